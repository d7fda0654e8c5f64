# A stand-in for the few TensorFlow 1.x names google-research/bert's create_pretraining_data.py and
# tokenization.py use, so that the script runs unchanged without TensorFlow. Everything it writes
# is plain JSON: TFRecordWriter writes one JSON object per line (feature name -> list of values).
# Written for bert-pretrain's golden fixture; not TensorFlow, not a general replacement.
import collections
import glob as _glob
import json
import sys


# ---- tf.flags / tf.app -------------------------------------------------------------------
class _Flags(object):
    def __init__(self):
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_types", {})
        object.__setattr__(self, "_required", set())

    def __getattr__(self, name):
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name)

    def _define(self, name, default, kind):
        self._values[name] = default
        self._types[name] = kind

    def _parse(self, argv):
        rest = [argv[0]]
        for arg in argv[1:]:
            if not arg.startswith("--"):
                rest.append(arg)
                continue
            name, eq, value = arg[2:].partition("=")
            if name not in self._types and name.startswith("no") and self._types.get(name[2:]) is bool:
                self._values[name[2:]] = False
                continue
            if name not in self._types:
                raise SystemExit("unknown flag --%s" % name)
            kind = self._types[name]
            if kind is bool:
                self._values[name] = (value.lower() in ("1", "true", "yes")) if eq else True
            else:
                self._values[name] = kind(value)
        for name in self._required:
            if self._values[name] is None:
                raise SystemExit("flag --%s is required" % name)
        return rest


class _FlagsModule(object):
    FLAGS = _Flags()

    def DEFINE_string(self, name, default, help):
        self.FLAGS._define(name, default, str)

    def DEFINE_bool(self, name, default, help):
        self.FLAGS._define(name, default, bool)

    DEFINE_boolean = DEFINE_bool

    def DEFINE_integer(self, name, default, help):
        self.FLAGS._define(name, default, int)

    def DEFINE_float(self, name, default, help):
        self.FLAGS._define(name, default, float)

    def mark_flag_as_required(self, name):
        self.FLAGS._required.add(name)


flags = _FlagsModule()


class _App(object):
    @staticmethod
    def run(main=None, argv=None):
        main = main or sys.modules["__main__"].main
        rest = flags.FLAGS._parse(argv or sys.argv)
        sys.exit(main(rest))


app = _App()


# ---- tf.logging --------------------------------------------------------------------------
class _Logging(object):
    INFO = 20

    def set_verbosity(self, level):
        pass

    def info(self, message, *args):
        sys.stderr.write((message % args if args else message) + "\n")


logging = _Logging()


# ---- tf.gfile ----------------------------------------------------------------------------
class _GFile(object):
    @staticmethod
    def GFile(path, mode="r"):
        return open(path, mode, encoding="utf-8") if "b" not in mode else open(path, mode)

    @staticmethod
    def Glob(pattern):
        return sorted(_glob.glob(pattern))


gfile = _GFile()


# ---- tf.train.Example and tf.python_io.TFRecordWriter ------------------------------------
class _ValueList(object):
    def __init__(self, value=()):
        self.value = list(value)


class _Feature(object):
    def __init__(self, int64_list=None, float_list=None):
        self.int64_list = int64_list or _ValueList()
        self.float_list = float_list or _ValueList()


class _Features(object):
    def __init__(self, feature):
        self.feature = feature


class _Example(object):
    def __init__(self, features):
        self.features = features

    def SerializeToString(self):
        record = collections.OrderedDict()
        for name, f in self.features.feature.items():
            record[name] = list(f.int64_list.value) if f.int64_list.value else list(f.float_list.value)
        return json.dumps(record, separators=(",", ":")).encode("utf-8")


class _Train(object):
    Example = _Example
    Features = _Features
    Feature = _Feature
    Int64List = _ValueList
    FloatList = _ValueList


train = _Train()


class _TFRecordWriter(object):
    def __init__(self, path):
        self._file = open(path, "wb")

    def write(self, record):
        self._file.write(record + b"\n")

    def close(self):
        self._file.close()


class _PythonIO(object):
    TFRecordWriter = _TFRecordWriter


python_io = _PythonIO()
