print("bert-corpus")
