# Prints values drawn by CPython's random.Random, for PythonRandomTests (run with CPython 3.11):
#   python3 make_python_random.py > python-random.json
import json, random

cases = []
for seed in [0, 1, 12345, -5, 2**32 + 7, 2**40 + 3, 2**63 - 1]:
    r = random.Random(seed)
    case = {"seed": str(seed)}
    case["random"] = [repr(r.random()) for _ in range(8)]
    case["getrandbits"] = [[k, str(r.getrandbits(k))] for k in [1, 5, 31, 32, 33, 53, 64]]
    case["randint"] = [[a, b, r.randint(a, b)] for (a, b) in [(0, 0), (0, 1), (2, 125), (0, 30521), (1, 7), (0, 2**40)]]
    xs = list(range(20))
    r.shuffle(xs)
    case["shuffle20"] = xs
    case["random_after"] = repr(r.random())
    # Long stream: crosses several twists.
    case["randint_stream_0_99_sum_5000"] = sum(r.randint(0, 99) for _ in range(5000))
    case["final_random"] = repr(r.random())
    cases.append(case)
print(json.dumps(cases, indent=None))
