# Runs google-research/bert's create_pretraining_data.py unchanged (with the stand-in tensorflow
# module beside this file) and also records the tokenized documents the script shuffles, as ids,
# so our instance code can be checked apart from the tokenizer. Usage:
#   python3 record_documents.py BERT_REPO DOCUMENTS_JSON -- <the script's own flags>
# DOCUMENTS_JSON gets [document][sentence][token id] in the script's reading order (before its shuffle).
import json
import os
import random
import sys

here = os.path.dirname(os.path.abspath(__file__))
bert_repo, documents_json = sys.argv[1], sys.argv[2]
assert sys.argv[3] == "--"
sys.path[:0] = [here, bert_repo]
sys.argv = [os.path.join(bert_repo, "create_pretraining_data.py")] + sys.argv[4:]

import tensorflow as tf          # the stand-in
import tokenization
import create_pretraining_data as cpd


class RecordingRandom(random.Random):
    """random.Random that saves the first list it shuffles (the script's document list).
    Only shuffle is overridden, so every draw is still CPython's own."""

    def shuffle(self, x):
        if not hasattr(self, "recorded"):
            self.recorded = [[list(s) for s in d] for d in x]
        super().shuffle(x)


class RandomModule(object):
    Random = RecordingRandom


recorder = {}


def main(argv):
    cpd.random = RandomModule()
    original = RecordingRandom.shuffle
    # Keep a handle on the generator the script creates, to read what it recorded.
    def capture_init(self, *args):
        random.Random.__init__(self, *args)
        recorder["rng"] = self
    RecordingRandom.__init__ = capture_init
    cpd.main(argv)
    tokenizer = tokenization.FullTokenizer(vocab_file=cpd.FLAGS.vocab_file, do_lower_case=cpd.FLAGS.do_lower_case)
    ids = [[tokenizer.convert_tokens_to_ids(s) for s in d] for d in recorder["rng"].recorded]
    with open(documents_json, "w") as f:
        json.dump(ids, f, separators=(",", ":"))


cpd.flags.mark_flag_as_required("input_file")
cpd.flags.mark_flag_as_required("output_file")
cpd.flags.mark_flag_as_required("vocab_file")
tf.app.run(main)
