"""The BERT presets the PyTorch peers build (the same as bert-pretrain's), one home for every peer script."""

SIZES = {
    # name: (layers, hidden, heads, intermediate)
    "bert-tiny": (2, 128, 2, 512),
    "bert-mini": (4, 256, 4, 1024),
    "bert-small": (4, 512, 8, 2048),
    "bert-medium": (8, 512, 8, 2048),
    "bert-base": (12, 768, 12, 3072),
}
VOCAB = 30522
MAX_POSITIONS = 512
