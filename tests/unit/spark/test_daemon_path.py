"""Which sys.path entries the local daemon drops (spark/daemon.py): only the installed pyspark's own
archives, and only when the package itself is importable from the path."""

from __future__ import annotations

import zipfile
from pathlib import Path

from symcorpus.spark.daemon import redundant_entries


def _installed_pyspark(site: Path) -> tuple[str, str, str]:
    package = site / "pyspark"
    (package / "python" / "lib").mkdir(parents=True)
    (package / "jars").mkdir()
    (package / "__init__.py").write_text("")
    (site / "py4j").mkdir()
    (site / "py4j" / "__init__.py").write_text("")
    archives = []
    for path in (package / "python/lib/pyspark.zip", package / "python/lib/py4j-0.10.9.9-src.zip",
                 package / "jars/spark-core_2.13-4.3.0.jar"):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("placeholder.txt", "x")
        archives.append(str(path))
    return archives[0], archives[1], archives[2]


def test_the_installed_packages_zips_and_jars_go(tmp_path):
    site = tmp_path / "site-packages"
    zipped, py4j, jar = _installed_pyspark(site)
    other = tmp_path / "deps.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("mod.py", "")
    path = [str(tmp_path), zipped, py4j, jar, str(other), str(site)]
    assert redundant_entries(path) == [zipped, py4j, jar]


def test_nothing_goes_when_the_package_is_not_on_the_path(tmp_path):
    # A Spark distribution's zips with no pyspark package beside them are the only copy of pyspark.
    site = tmp_path / "site-packages"
    zipped, py4j, jar = _installed_pyspark(site)
    assert redundant_entries([zipped, py4j, jar, str(tmp_path)]) == []


def test_archives_of_another_folder_stay(tmp_path):
    site = tmp_path / "site-packages"
    _installed_pyspark(site)
    spark_home = tmp_path / "spark" / "python" / "lib"
    spark_home.mkdir(parents=True)
    (spark_home / "pyspark.zip").write_bytes(b"")
    assert redundant_entries([str(spark_home / "pyspark.zip"), str(site)]) == []


def test_py4js_zip_stays_when_py4j_is_not_installed(tmp_path):
    site = tmp_path / "site-packages"
    zipped, py4j, jar = _installed_pyspark(site)
    (site / "py4j" / "__init__.py").unlink()
    assert redundant_entries([zipped, py4j, jar, str(site)]) == [zipped, jar]
