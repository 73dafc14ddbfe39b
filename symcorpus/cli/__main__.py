from symcorpus.cli import main

main()
