#!/usr/bin/env python3
"""Makes the tokenizer golden fixtures with the Python reference tokenizer.

    cd Tests/TokenizationTests/Fixtures && python3 make_golden.py /path/to/web.txt

web.txt is the World English Bible (public domain):
    diatheke -b engWEB2015eb -f plain -k "Gen 1:1-Rev 22:21" > web.txt

Writes
  golden-vocab.txt  a ~5000-token WordPiece vocabulary learned by Hugging Face `tokenizers`' WordPiece trainer
                    on English prose plus multilingual lines (bert-base-uncased cannot be downloaded here);
  golden.jsonl      one object per line: {"text", "lower": [ids], "cased": [ids]} from transformers'
                    BertTokenizerLegacy (transformers 5.23, the pure-Python tokenizer) with do_lower_case
                    true and false, encode(add_special_tokens=False).
Deterministic: fixed seeds, fixed inputs.
"""
import json
import random
import sys
import unicodedata

from tokenizers import BertWordPieceTokenizer
from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy

assert unicodedata.unidata_version == "14.0.0", "run with Python 3.11 (Unicode 14)"

bible = [line.split(": ", 1)[1].strip() for line in open(sys.argv[1], encoding="utf-8") if ": " in line]

multilingual = [
    "Café crème brûlée à la carte, naïve façade, résumé, Ångström, Øre, Æsir, Straße.",
    "Cafe\u0301 cre\u0300me bru\u0302le\u0301e a\u0300 la carte (decomposed accents).",
    "ΟΔΥΣΣΕΥΣ ΚΑΙ ΠΗΝΕΛΟΠΕΙΑ. Ἐν ἀρχῇ ἦν ὁ λόγος. ΣΟΦΟΣ ΣΟΦΟΣ. σοφός Σ ΑΣ. ΑΣ.Α ΑΣ'Α ΑΣ'",
    "İstanbul'da IŞIK ılık İĞNE iğne, İİİ ıi Iı. DİYARBAKIR",
    "北京是中国的首都。我爱自然语言处理！漢字とひらがなとカタカナ。",
    "中文English混合text和数字123，还有標點符號、括號（）。",
    "한국어 텍스트: 안녕하세요, 세계! 한글 자모 각.",
    "مرحبا بالعالم. اللغة العربية جميلة، أليس كذلك؟",
    "नमस्ते दुनिया। हिन्दी भाषा सुन्दर है।",
    "สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ",
    "Привет, мир! Ёлка, ЁЖИК, ёж. Українська: Ґанок, їжак.",
    "שלום עולם. עברית נכתבת מימין לשמאל.",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨ 🎉 $100 ^_^ `code` a+b=c ~tilde~ |pipe| <tag> 50% #1 @user",
    "Zero\u200bwidth\u200cjoiners\u200dand\u2060word\ufeffjoiner and soft\u00adhyphen.",
    "Controls:\x01\x02\x07\x08\x0b\x0c\x1b\x7f\x85end and NUL\x00 and \ufffd replacement.",
    "Line\u2028separator\u2029paragraph and \u001cFS\u001dGS\u001eRS\u001fUS.",
    "No\u00a0break\u3000ideographic\u2003em\u2009thin\u202fnarrow space.",
    "Quotes “curly” ‘single’ «guillemets» „low“ — dash – en … ellipsis ¿qué? ¡sí!",
    "Math ∑∫√∞≠≤≥ ± × ÷ ° € £ ¥ © ® ™ § ¶ • ‰ ′ ″",
    "Fullwidth ＡＢＣ１２３！？ and ﬁ ligature, ① circled, ℌ fraktur, Ⅻ roman.",
    "Special tokens: [MASK] [CLS] [SEP] [PAD] [UNK] inline a[MASK]b [mask] [Mask] [[MASK]] [MAS[MASK]",
    "Hidden special: [MA\u200bSK] [C\u00adLS] and [SEP\u0301] and [MASK]\u0301x",
    "Thai with marks: ก้ำ ญี่ปุ่น and Devanagari क्षत्रिय ज्ञान",
    "A" * 100 + " " + "b" * 101 + " " + "é" * 100 + " " + "e\u0301" * 100 + " " + "ab" * 51,
    "Private use \ue000\uf8ff and unassigned \u0378\u0379 and noncharacter \ufdd0 and tags \U000e0041.",
    "Ⓐ ⓑ ǅ ǈ ǋ ǲ titlecase, ᾈ ᾼ ῌ ῼ iota subscripts, ﬀ ﬃ ß ẞ",
    "Combining order: a\u0301\u0323 a\u0323\u0301 q\u0307\u0323 \u0344 \u0340 Å Ω K",
    "Hangul jamo compose: \u1100\u1161\u11a8 \u1100\u1161 \u1112\u1175\u11c2",
]

# Random lines over a character pool chosen to hit every rule.
pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 3 +
        list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + [" "] * 25 +
        list("éèêëÉÈàâäÀçÇñÑöÖüÜøØåÅæß") + ["\u0301", "\u0300", "\u0308", "\u0323", "\u0327", "\u0345", "\u20dd"] +
        list("αβγδεζηθικλμνξοπρστυφχψωΑΒΓΔΣΩσςΣΣάέήίόύώ") + list("İıIŞşĞğ") +
        list("中文字北京語言漢字日本東") + list("ひらがなカタカナ") + list("한국어안녕") + ["\u1100", "\u1161", "\u11a8"] +
        list("مرحبابالعالم") + list("नमस्तेदुनिया्") + list("สวัสดีชาวโลก") + list("Привет") +
        ["😀", "👍", "🏽", "\u200d", "❤", "\ufe0f", "🇫", "🇷"] +
        ["\x00", "\x01", "\x1f", "\x7f", "\x85", "\t", "\r", "\x0b", "\x0c", "\u200b", "\u200c", "\u200e", "\u2060", "\ufeff",
         "\u00ad", "\u2028", "\u2029", "\u00a0", "\u3000", "\u2003", "\ufffd", "\ue000", "\u0378"] +
        list("“”‘’«»—–…¿¡∑√€£¥©®™§¶•$^`+<=>|~") + ["[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "[mask]", "##", "##ing"])
rng = random.Random(20261123)
random_lines = []
for i in range(240):
    length = rng.choice([1, 2, 3, 5, 8, 13, 21, 34, 60, 120])
    random_lines.append("".join(rng.choice(pool) for _ in range(length)))
# Random mixes of real words, glued or spaced with odd characters.
words = " ".join(bible[:2000]).split()
for i in range(120):
    parts = []
    for _ in range(rng.randint(1, 12)):
        parts.append(rng.choice(words))
        parts.append(rng.choice([" ", " ", " ", "", "\u200b", "\u00a0", "-", "'", "\u0301", "ς", "Σ", "中", "\t", "  "]))
    random_lines.append("".join(parts))

prose = [bible[i] for i in range(0, len(bible), max(1, len(bible) // 100))][:100]
prose += [b.upper() for b in prose[:10]]
lines = prose + multilingual + random_lines

# Vocabulary: HF tokenizers' WordPiece trainer over prose (both cases) and the multilingual lines.
training = bible[:20000] + [b.lower() for b in bible[:5000]] + multilingual * 20
trainer_tokenizer = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False)
trainer_tokenizer.train_from_iterator(training, vocab_size=5000, min_frequency=2, limit_alphabet=600,
                                      special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
vocab = sorted(trainer_tokenizer.get_vocab().items(), key=lambda kv: kv[1])
with open("golden-vocab.txt", "w", encoding="utf-8") as f:
    for token, index in vocab:
        f.write(token + "\n")

lower = BertTokenizerLegacy("golden-vocab.txt", do_lower_case=True)
cased = BertTokenizerLegacy("golden-vocab.txt", do_lower_case=False)
with open("golden.jsonl", "w", encoding="utf-8") as f:
    for text in lines:
        f.write(json.dumps({"text": text,
                            "lower": lower.encode(text, add_special_tokens=False),
                            "cased": cased.encode(text, add_special_tokens=False)}, ensure_ascii=True) + "\n")
print(f"{len(vocab)} tokens, {len(lines)} lines", file=sys.stderr)
