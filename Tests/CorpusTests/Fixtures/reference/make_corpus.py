# Makes the reference fixture's corpus.txt and vocab.txt from the World English Bible (SWORD module
# engWEB2015eb, public domain), run from this folder:
#   python3 make_corpus.py
# Google's input format: one "sentence" (here a verse) per line, a blank line between documents
# (here chapters). A one-verse document and a two-verse document exercise the edge cases.
# The vocabulary is small (specials, punctuation, letters, ## letters, ## suffixes, frequent words),
# so words split into several pieces (whole-word masking has work to do) and both Google's
# FullTokenizer and Hugging Face's BertTokenizer tokenize the text identically (plain English, no
# word over 100 characters, no special token in the text).
import collections, re, subprocess

def chapter(ref):
    out = subprocess.run(["diatheke", "-b", "engWEB2015eb", "-f", "plain", "-k", ref],
                         check=True, capture_output=True, text=True).stdout
    verses = []
    for line in out.splitlines():
        m = re.match(r"^[1-3]?\s?[A-Za-z]+ \d+:\d+: (.*)$", line)
        if m and m.group(1).strip():
            verses.append(m.group(1).strip())
    return verses

documents = [chapter(r) for r in ["Ruth 1", "Ruth 2", "Jonah 1", "Jonah 2", "Jonah 3", "Jonah 4",
                                  "Ruth 3", "Ruth 4"]]
documents.insert(3, chapter("John 11:35"))        # one sentence
documents.insert(6, chapter("Psalms 117"))        # two sentences
with open("corpus.txt", "w") as f:
    f.write("\n\n".join("\n".join(d) for d in documents) + "\n")

words = collections.Counter(w for d in documents for v in d for w in re.findall(r"[a-z]+", v.lower()))
punctuation = sorted(set(c for d in documents for v in d for c in v if not c.isalnum() and not c.isspace()))
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + punctuation
vocab += [chr(c) for c in range(ord("a"), ord("z") + 1)] + ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
vocab += ["##ed", "##ing", "##er", "##ly", "##th", "##en", "##es"]
vocab += [w for w, _ in words.most_common(400) if w not in vocab]
with open("vocab.txt", "w") as f:
    f.write("\n".join(vocab) + "\n")
print(len(documents), "documents,", sum(map(len, documents)), "sentences,", len(vocab), "vocabulary tokens")
