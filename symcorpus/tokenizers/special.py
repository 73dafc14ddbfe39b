"""The special tokens every vocabulary starts with: ids 0..3, music and condition tokens follow."""

SPECIAL_TOKENS: tuple[str, ...] = ("<pad>", "<bos>", "<eos>", "<sep>")
PAD_ID, BOS_ID, EOS_ID, SEP_ID = range(4)
