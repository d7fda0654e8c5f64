# Makes metrics.json: the metrics HF's GLUE metric and run_glue.py compute, from sklearn and scipy
# (sklearn 1.9.1, scipy 1.17.1), on small cases including ties and degenerate ones. Run once by hand:
#   python3 make_metrics.py
# nan is written as the string "nan" (strict JSON has no nan).
import json, math, warnings
import numpy as np
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, mean_squared_error
from scipy.stats import pearsonr, spearmanr

warnings.simplefilter("ignore")

def num(x):
    x = float(x)
    return "nan" if math.isnan(x) else x

classification = [
    # name, num_labels, predicted, actual
    ("binary", 2, [1, 0, 1, 1, 0, 1, 0, 0], [1, 0, 0, 1, 0, 1, 1, 0]),
    ("binary all wrong", 2, [1, 1, 0, 0], [0, 0, 1, 1]),
    ("binary constant prediction", 2, [1, 1, 1, 1, 1], [1, 0, 1, 0, 0]),
    ("binary no positive anywhere", 2, [0, 0, 0], [0, 0, 0]),
    ("three classes", 3, [0, 1, 2, 2, 1, 0, 0, 2, 1, 1], [0, 1, 2, 1, 1, 0, 2, 2, 0, 1]),
    ("four classes, class 3 absent", 4, [0, 1, 2, 0, 1, 2, 0], [0, 2, 2, 0, 1, 1, 1]),
    ("four classes, class 3 only predicted", 4, [3, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2]),
    ("three classes, constant prediction", 3, [2, 2, 2, 2], [0, 1, 2, 1]),
]
regression = [
    ("linear-ish", [0.5, 1.2, 3.3, 2.1, 4.8, 4.1], [0.0, 1.0, 3.5, 2.0, 5.0, 4.0]),
    ("ties in both", [1.0, 2.0, 2.0, 3.0, 3.0, 3.0, 4.5], [2.0, 1.0, 3.0, 3.0, 5.0, 4.0, 4.0]),
    ("anticorrelated", [3.0, 2.0, 1.0, 0.0], [0.25, 0.5, 0.75, 1.0]),
    ("constant prediction", [2.5, 2.5, 2.5, 2.5], [1.0, 2.0, 3.0, 4.0]),
    ("two values", [1.0, 2.0], [3.0, 1.0]),
]
out = {"classification": [], "regression": []}
for name, n, p, a in classification:
    f1 = f1_score(a, p) if n == 2 else f1_score(a, p, average="macro")
    out["classification"].append({"name": name, "num_labels": n, "predicted": p, "actual": a,
        "accuracy": num(accuracy_score(a, p)), "f1": num(f1), "matthews_correlation": num(matthews_corrcoef(a, p))})
for name, p, a in regression:
    p32 = np.array(p, dtype=np.float32).astype(np.float64); a32 = np.array(a, dtype=np.float32).astype(np.float64)
    out["regression"].append({"name": name, "predicted": p, "actual": a,
        "mse": num(mean_squared_error(a32, p32)), "pearson": num(pearsonr(p32, a32)[0]),
        "spearmanr": num(spearmanr(p32, a32)[0])})
with open("metrics.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
