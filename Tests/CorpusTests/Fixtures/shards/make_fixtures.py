#!/usr/bin/env python3
"""Makes the shard fixtures of CorpusTests with h5py (an independent HDF5 writer), the way other
BERT tools write shards: NVIDIA's dataset names, but other integer widths and none of our attributes.
Run from this folder: python3 make_fixtures.py   (h5py 3.x, numpy)."""
import h5py
import numpy as np

# vocab.txt of the fixtures: [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4 the=5 cat=6 sat=7 on=8 mat=9 dog=10 ran=11 fast=12
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "ran", "fast"]
with open("vocab.txt", "w") as f:
    f.write("\n".join(VOCAB) + "\n")

T, P = 8, 3
# Three valid instances (hand-made, see ShardFixtureTests for the same values):
#   0: [CLS] the cat [MASK] [SEP] on mat [SEP]   A="the cat sat" B="on mat", "sat" masked -> [MASK]
#   1: [CLS] dog [SEP] ran [MASK] [SEP]         "dog" kept unchanged, "fast" -> [MASK]; B random
#   2: [CLS] the [SEP] cat [SEP]                "the" -> [MASK], "mat" replaced by random "cat"
input_ids = [[2, 5, 6, 4, 3, 8, 9, 3], [2, 10, 3, 11, 4, 3, 0, 0], [2, 4, 3, 6, 3, 0, 0, 0]]
input_mask = [[1] * 8, [1] * 6 + [0] * 2, [1] * 5 + [0] * 3]
segment_ids = [[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0], [0, 0, 0, 1, 1, 0, 0, 0]]
masked_lm_positions = [[3, 0, 0], [1, 4, 0], [1, 3, 0]]
masked_lm_ids = [[7, 0, 0], [10, 12, 0], [5, 9, 0]]
next_sentence_labels = [0, 1, 0]

def write(name, dtype, drop=None, override=None, compression="gzip", attrs=None):
    data = dict(input_ids=input_ids, input_mask=input_mask, segment_ids=segment_ids,
                masked_lm_positions=masked_lm_positions, masked_lm_ids=masked_lm_ids,
                next_sentence_labels=next_sentence_labels)
    data.update(override or {})
    with h5py.File(name, "w") as f:
        for key, value in data.items():
            if key != drop:
                f.create_dataset(key, data=np.array(value, dtype=dtype), compression=compression)
        for key, value in (attrs or {}).items():
            f.attrs[key] = value

# Readable: exactly NVIDIA DeepLearningExamples' create_pretraining_data.py (i4/i1, gzip, no attributes).
with h5py.File("h5py-nvidia-dtypes.hdf5", "w") as f:
    for key, value, dtype in [("input_ids", input_ids, "i4"), ("input_mask", input_mask, "i1"), ("segment_ids", segment_ids, "i1"),
                              ("masked_lm_positions", masked_lm_positions, "i4"), ("masked_lm_ids", masked_lm_ids, "i4"),
                              ("next_sentence_labels", next_sentence_labels, "i1")]:
        f.create_dataset(key, data=np.array(value), dtype=dtype, compression="gzip")
# Readable: int64 everywhere, no attributes (what a numpy-default exporter writes).
write("h5py-int64-noattrs.hdf5", "i8")
# Readable: int16, contiguous (no chunks, no compression), with foreign and fixed-length-string attributes.
write("h5py-int16-contiguous.hdf5", "i2", compression=None,
      attrs={"vocab_size": np.int32(13), "masked_lm_prob": 0.15, "tool_version": np.bytes_(b"other-tool 1.0"),
             "matrix": np.zeros((2, 2))})
# Unreadable, one way each:
write("h5py-missing-dataset.hdf5", "i4", drop="next_sentence_labels")
write("h5py-wrong-rank.hdf5", "i4", override=dict(input_mask=[1] * 8))
write("h5py-inconsistent-n.hdf5", "i4", override=dict(masked_lm_ids=masked_lm_ids[:2]))
write("h5py-inconsistent-t.hdf5", "i4", override=dict(segment_ids=[row[:7] for row in segment_ids]))
write("h5py-int64-overflow.hdf5", "i8", override=dict(input_ids=[input_ids[0], input_ids[1], [2, 1 << 40, 3, 6, 3, 0, 0, 0]]))
write("h5py-float-ids.hdf5", "f4")
print("wrote fixtures")
