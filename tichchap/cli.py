"""The ``tichchap`` command (also ``python -m tichchap``): train, evaluate, summarise and run models.

    tichchap train lenet --dataset fashion_mnist --epochs 10 --out runs/lenet
    tichchap train lenet --out runs/lenet --resume          # after Ctrl-C, or to train further
    tichchap evaluate runs/lenet/model.npz --dataset fashion_mnist
    tichchap summary xception
    tichchap predict runs/lenet/model.npz shirt.png --top 3
    tichchap featuremaps MODEL IMAGE ...                     # see tichchap.visualize
    tichchap golden ...                                      # see tichchap.hardware

``train`` writes into ``--out``: ``model.npz`` (after every finished epoch, atomically),
``history.json`` (per-epoch loss/accuracy, validation, seconds), ``run.json`` (the options, so
``--resume`` needs none of them again), and at the end ``metrics.json`` (test accuracy, seconds
per epoch), ``curves.png`` and ``confusion.png``.
"""

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

from .callbacks import Callback
from .errors import ConfigError, DataNotFoundError, ShapeError, TichchapError, describe
from .training import training_samples
from .utils.fileio import atomic_write

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

TRAIN_DEFAULTS = {
    "dataset": "fashion_mnist",
    "epochs": 10,
    "batch_size": 128,
    "optimizer": "adam",
    "learning_rate": None,  # the optimizer's Keras default
    "lr_schedule": "constant",
    "validation_split": 0.1,
    "limit": None,
    "data_dir": None,
}
DATASETS = ("fashion_mnist", "fashion_mnist_sample", "mnist", "cifar10")
MODEL_FILE = "model.npz"


def say(*args):
    print(*args, flush=True)


# -- progress ---------------------------------------------------------------------------------
class TqdmProgress(Callback):
    """A training callback drawing one tqdm bar per epoch: batches, loss, accuracy, rate and ETA;
    the validation results are added to the bar when the epoch ends.

    ``tqdm`` is the tqdm class to use (passed in, so this module loads without tqdm);
    :func:`progress_callbacks` falls back to Keras-style ``ProgbarLogger`` text when tqdm is not
    installed.
    """

    def __init__(self, tqdm, stream=None, min_interval=0.2):
        super().__init__()
        self._tqdm = tqdm
        self.stream = stream
        self.min_interval = min_interval
        self.bar = None

    def on_epoch_begin(self, epoch, logs=None):
        self.bar = self._tqdm(total=self.params.get("steps"), desc=f"Epoch {epoch + 1}/{self.params.get('epochs')}",
                              unit="batch", file=self.stream, leave=True, dynamic_ncols=True,
                              mininterval=self.min_interval)
        self._last = 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(batch + 1 - self.bar.n)
        now = time.perf_counter()
        if now - self._last > self.min_interval:
            self._last = now
            self.bar.set_postfix(_short(logs), refresh=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.bar is not None:
            self.bar.set_postfix(_short(logs), refresh=False)
            self.bar.close()
            self.bar = None

    def on_train_end(self, logs=None):
        if self.bar is not None:  # interrupted mid-epoch
            self.bar.close()
            self.bar = None


def _short(logs):
    names = {"loss": "loss", "accuracy": "acc", "val_loss": "val_loss", "val_accuracy": "val_acc"}
    return {names.get(k, k): f"{v:.4f}" for k, v in (logs or {}).items() if isinstance(v, (float, int, np.floating))}


def progress_callbacks(enabled=True):
    """``(callbacks, verbose)`` for ``fit``: a tqdm bar when tqdm is installed, else Keras' text bar."""
    if not enabled:
        return [], 0
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return [], 1
    return [TqdmProgress(tqdm)], 0


# -- data ---------------------------------------------------------------------------------------
def load_dataset(name, data_dir=None):
    """``(name actually used, ((x_train, y_train), (x_test, y_test)), class names)``.

    ``fashion_mnist`` that is nowhere to be found (see tichchap.datasets for the search order) falls
    back to the embedded 7,000-image sample, and says so.
    """
    from . import datasets
    from .datasets.fashion_mnist_sample import SampleDataWarning

    module = datasets.get_module(name)
    key = module.__name__.rsplit(".", 1)[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SampleDataWarning)  # told below, in the command's words
        try:
            data = datasets.load(key, path=data_dir) if key != "fashion_mnist_sample" else datasets.load(key)
        except DataNotFoundError as err:
            if key != "fashion_mnist":
                raise
            say(f"Fashion-MNIST was not found ({str(err).splitlines()[0]}).")
            say("Using the embedded sample instead: 6,000 training and 1,000 test images of Fashion-MNIST. For the "
                "full 70,000 images: apt-get install dataset-fashion-mnist, or put the four idx .gz files in "
                "$TICHCHAP_DATA/fashion_mnist (see README, 'Where the data comes from').")
            key = "fashion_mnist_sample"
            data = datasets.load(key)
    if key == "fashion_mnist_sample":
        say("Data: the embedded Fashion-MNIST sample (6,000 train / 1,000 test images); accuracies are not "
            "comparable with results on the full data set.")
    return key, data, list(datasets.class_names(key))


def fit_to_model(x, input_shape, what="the data"):
    """Images (uint8, (N, H, W) or (N, H, W, C)) as the model takes them: float32 in [0, 1],
    a channel axis added, flattened for a model on vectors. Raises ShapeError when they don't fit."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    sample = tuple(input_shape[1:])
    if len(sample) == 1 and int(np.prod(x.shape[1:])) == sample[0]:
        x = x.reshape(len(x), -1)
    if tuple(x.shape[1:]) != sample:
        hint = ""
        if len(sample) == 3 and x.ndim == 4:
            hint = (f" (the model takes {sample[0]}x{sample[1]} images with {sample[2]} channel(s); "
                    f"{what} has {x.shape[1]}x{x.shape[2]} images with {x.shape[3]} channel(s))")
        raise ShapeError(describe(f"{what} does not fit the model's input{hint}",
                                  f"samples of shape {sample}", f"samples of shape {tuple(x.shape[1:])}"))
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def check_classes(model, num_classes, dataset):
    units = model.output_shape[-1]
    if units != num_classes and not (units == 1 and num_classes == 2):
        raise ShapeError(describe(f"the model {model.name!r} does not fit data set {dataset!r}: its output has "
                                  f"{units} unit(s) but the data set has {num_classes} classes",
                                  f"{num_classes} output units", f"{units}"))


def default_loss(model):
    return "binary_crossentropy" if model.output_shape[-1] == 1 else "sparse_categorical_crossentropy"


# -- models -------------------------------------------------------------------------------------
def build_or_load(spec):
    """A model from an application name (``lenet``) or a model file; returns ``(model, label)``."""
    from . import applications
    from .saving import load_model

    if os.path.exists(spec):
        return load_model(spec), os.path.basename(spec)
    key = spec.replace("-", "_").lower()
    if key in applications.MODELS:
        return applications.get(key)(), key
    raise DataNotFoundError(describe(f"{spec!r} is neither a model name nor a model file",
                                     "one of " + ", ".join(sorted(applications.MODELS)) + " or an existing file",
                                     repr(spec)))


LR_SCHEDULES = ("constant", "cosine")


def make_optimizer(name, learning_rate, schedule="constant", total_steps=None):
    """The named optimizer with Keras' defaults, at ``learning_rate`` when given; with
    ``schedule="cosine"`` the rate decays from there to 0 over ``total_steps`` (CosineDecay)."""
    from . import optimizers

    optimizer = optimizers.get(name)
    if learning_rate is not None:
        optimizer.learning_rate = float(learning_rate)
    if schedule == "cosine":
        optimizer.learning_rate = optimizers.schedules.CosineDecay(optimizer.learning_rate, total_steps)
    elif schedule != "constant":
        raise ConfigError(describe("train: unknown --lr-schedule", " or ".join(LR_SCHEDULES), schedule))
    return optimizer


# -- files ----------------------------------------------------------------------------------------
def write_json(path, obj):
    with atomic_write(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


class EpochRecorder(Callback):
    """After every finished epoch: the model to ``model.npz`` and the history so far to
    ``history.json``, each written atomically, so Ctrl-C or a crash loses at most the running epoch.
    ``history`` holds earlier epochs' logs when resuming; ``seconds`` each epoch's wall time."""

    def __init__(self, out, history):
        super().__init__()
        self.out, self.history = out, history

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self._start
        self.model.save(os.path.join(self.out, MODEL_FILE))
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.history.setdefault("seconds", []).append(round(seconds, 3))
        write_json(os.path.join(self.out, "history.json"), self.history)


# -- plots ----------------------------------------------------------------------------------------
def plot_curves(history, path):
    """Loss and accuracy per epoch, training vs validation (tichchap.visualize when present)."""
    curves = {k: v for k, v in history.items() if k != "seconds"}
    try:
        from .visualize import plot_history
    except ImportError:
        plot_history = None
    if plot_history is not None:
        return plot_history(curves, path)
    fig = _figure((10, 4))
    for i, key in enumerate(("loss", "accuracy"), start=1):
        ax = fig.add_subplot(1, 2, i)
        for prefix, label in (("", "training"), ("val_", "validation")):
            if prefix + key in curves:
                values = curves[prefix + key]
                ax.plot(range(1, len(values) + 1), values, "-o", label=label)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend()
    return _save(fig, path)


def plot_confusion(y_true, y_pred, class_names, path):
    """The test set's confusion matrix with class names (tichchap.visualize when present)."""
    try:
        from .visualize import plot_confusion_matrix
    except ImportError:
        plot_confusion_matrix = None
    if plot_confusion_matrix is not None:
        return plot_confusion_matrix(y_true, y_pred, class_names=class_names, path=path)
    k = len(class_names)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true), np.asarray(y_pred)), 1)
    fig = _figure((8, 7))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    return _save(fig, path)


def _figure(size):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    with atomic_write(path, "wb") as f:
        fig.savefig(f, format="png", dpi=100)
    return path


# -- train ----------------------------------------------------------------------------------------
def _resolve_train_options(args):
    """Explicit options win; when resuming, then the options of the run being resumed; then defaults."""
    stored = read_json(os.path.join(args.out, "run.json"), {}) if args.resume else {}
    options = {}
    for key, default in TRAIN_DEFAULTS.items():
        value = getattr(args, key)
        options[key] = value if value is not None else stored.get(key, default)
    options["seed"] = args.seed if args.seed is not None else stored.get("seed")
    if options["seed"] is None:
        options["seed"] = int(np.random.default_rng().integers(0, 2**31 - 1))
    options["model"] = args.model
    return options


def cmd_train(args):
    from . import utils

    args.out = args.out or os.path.join("runs", os.path.splitext(os.path.basename(args.model))[0])
    options = _resolve_train_options(args)
    model_path = os.path.join(args.out, MODEL_FILE)
    if options["epochs"] < 1:
        raise ConfigError(describe("train: --epochs must be at least 1", "a positive number", options["epochs"]))

    dataset, ((x_train, y_train), (x_test, y_test)), class_names = load_dataset(options["dataset"], options["data_dir"])
    if options["limit"]:
        n = int(options["limit"])
        x_train, y_train, x_test, y_test = x_train[:n], y_train[:n], x_test[:n], y_test[:n]
    n_train = training_samples(len(x_train), options["validation_split"])
    n_val = len(x_train) - n_train
    total_steps = options["epochs"] * math.ceil(n_train / options["batch_size"])

    def new_optimizer():
        return make_optimizer(options["optimizer"], options["learning_rate"], options["lr_schedule"], total_steps)

    history = {}
    if args.resume:
        if not os.path.exists(model_path):
            raise DataNotFoundError(describe(f"train --resume: no saved model to continue from in {args.out}",
                                             f"{model_path} from an earlier run", "no such file"))
        from .saving import load_model

        model = load_model(model_path)
        if model.optimizer is None:
            model.compile(optimizer=new_optimizer(), loss=default_loss(model), metrics=["accuracy"])
        done = model.completed_epochs
        history = {k: v[:done] for k, v in read_json(os.path.join(args.out, "history.json"), {}).items()}
        say(f"Resuming {model_path}: {done} epoch(s) done, training to epoch {options['epochs']} "
            "(optimizer state and shuffling continue from the file).")
    else:
        utils.clear_session()
        utils.set_random_seed(options["seed"])
        model, _ = build_or_load(args.model)
        model.rng = np.random.default_rng(options["seed"])
        model.completed_epochs = 0
        model.compile(optimizer=new_optimizer(), loss=default_loss(model), metrics=["accuracy"])
        if os.path.exists(model_path):
            say(f"Starting afresh: {model_path} will be replaced (use --resume to continue it instead).")
    x_train = fit_to_model(x_train, model.input_shape, f"data set {dataset!r}")
    x_test = fit_to_model(x_test, model.input_shape, f"data set {dataset!r}")
    check_classes(model, len(class_names), dataset)
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "run.json"), {**options, "dataset_used": dataset})

    recorder = EpochRecorder(args.out, history)
    progress, verbose = progress_callbacks(not args.quiet)
    start_epoch = model.completed_epochs
    say(f"Training {model.name} ({model.count_params():,} parameters) on {dataset}: {n_train:,} training"
        f" / {n_val:,} validation / {len(x_test):,} test images, epochs {start_epoch + 1}..{options['epochs']}, "
        f"batch size {options['batch_size']}, {options['optimizer']}"
        f"{' with a cosine learning rate' if options['lr_schedule'] == 'cosine' else ''}, seed {options['seed']}.")
    try:
        model.fit(x_train, y_train, batch_size=options["batch_size"], epochs=options["epochs"],
                  validation_split=options["validation_split"] or 0.0, initial_epoch=start_epoch,
                  callbacks=[recorder] + progress, verbose=verbose)
    except KeyboardInterrupt:
        sys.stdout.flush()
        done = model.completed_epochs
        if os.path.exists(model_path) and done > 0:
            say(f"\nInterrupted. The model after epoch {done} is in {model_path}.")
        else:
            say("\nInterrupted before the first epoch finished; nothing was saved.")
        say(f"Continue with: tichchap train {args.model} --out {args.out} --resume")
        return EXIT_INTERRUPTED

    say("Evaluating on the test set ...")
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    predicted = model.predict(x_test, batch_size=256, verbose=0)
    predicted = (predicted[:, 0] > 0.5).astype(int) if predicted.shape[-1] == 1 else predicted.argmax(axis=1)
    seconds = recorder.history.get("seconds", [])
    metrics = {
        "model": model.name, "dataset": dataset, "epochs": model.completed_epochs,
        "test_accuracy": float(test_accuracy), "test_loss": float(test_loss), "test_samples": int(len(x_test)),
        "seconds_per_epoch": float(np.mean(seconds)) if seconds else None,
        "final_train_accuracy": recorder.history.get("accuracy", [None])[-1],
        "final_val_accuracy": recorder.history.get("val_accuracy", [None])[-1],
        "model_file": MODEL_FILE,
    }
    write_json(os.path.join(args.out, "metrics.json"), metrics)
    pictures = []
    try:
        pictures.append(plot_curves(recorder.history, os.path.join(args.out, "curves.png")))
        pictures.append(plot_confusion(y_test, predicted, class_names, os.path.join(args.out, "confusion.png")))
    except ImportError as err:
        say(f"No pictures: {err} (pip install matplotlib, or tichchap[plots]).")
    say(f"\nTest accuracy: {100 * test_accuracy:.2f}% ({len(x_test):,} {dataset} test images), "
        f"{metrics['seconds_per_epoch'] or 0:.1f} s per epoch.")
    say(f"Results in {os.path.abspath(args.out)}:")
    for name in [MODEL_FILE, "history.json", "metrics.json"] + [os.path.basename(p) for p in pictures]:
        say(f"  {name}")
    return 0


# -- evaluate, summary, predict ---------------------------------------------------------------
def cmd_evaluate(args):
    from .saving import load_model

    model = load_model(args.model_file)
    dataset, (_, (x_test, y_test)), _ = load_dataset(args.dataset, args.data_dir)
    if args.limit:
        x_test, y_test = x_test[:args.limit], y_test[:args.limit]
    x_test = fit_to_model(x_test, model.input_shape, f"data set {dataset!r}")
    if model.loss is None:
        model.compile(optimizer="adam", loss=default_loss(model), metrics=["accuracy"])
    logs = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0, return_dict=True)
    say(f"{args.model_file} on {len(x_test):,} {dataset} test images: "
        + ", ".join(f"{k} {v:.4f}" for k, v in logs.items()))
    return 0


def cmd_summary(args):
    model, _ = build_or_load(args.model)
    model.summary()
    return 0


def load_image_for(model, path):
    """One image file as the model's input: resized to its height and width, grayscale or RGB by
    its channel count, scaled to [0, 1]."""
    shape = model.input_shape
    if len(shape) == 2:  # a model on flat vectors (mlp): a square grayscale image of that size
        side = int(round(math.sqrt(shape[1])))
        if side * side != shape[1]:
            raise ShapeError(describe(f"predict: model {model.name!r} does not take images", "an image input",
                                      f"input shape {shape}"))
        return _read_image(path, (side, side), 1).reshape(-1)
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise ShapeError(describe(f"predict: model {model.name!r} does not take images",
                                  "input (None, height, width, 1 or 3)", f"input shape {shape}"))
    return _read_image(path, shape[1:3], shape[3])


def _read_image(path, size, channels):
    mode = "grayscale" if channels == 1 else "rgb"
    try:
        from . import image
    except ImportError:
        image = None
    if image is not None and hasattr(image, "load"):
        return image.load(path, target_size=tuple(size), color_mode=mode, interpolation="bilinear", scale=True)
    from PIL import Image  # pragma: no cover - used only where tichchap.image is missing

    with Image.open(path) as im:  # pragma: no cover
        im = im.convert("L" if channels == 1 else "RGB").resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.asarray(im, dtype=np.float32) / 255.0
    return array.reshape(size[0], size[1], channels)  # pragma: no cover


def _class_names_for(args, model, units):
    from . import datasets

    name = args.classes
    if name is None:  # the data set the model was trained on, when run.json sits beside it
        run = read_json(os.path.join(os.path.dirname(os.path.abspath(args.model_file)), "run.json"), {})
        name = run.get("dataset_used")
    if name:
        names = list(datasets.class_names(name))
        if len(names) == units:
            return names
    return [str(i) for i in range(units)]


def cmd_predict(args):
    from .saving import load_model

    model = load_model(args.model_file, compile=False)
    batch = np.stack([load_image_for(model, path) for path in args.images]).astype(model.dtype)
    probabilities = model.predict(batch, verbose=0)
    if probabilities.shape[-1] == 1:  # a sigmoid unit: P(class 1)
        probabilities = np.concatenate([1 - probabilities, probabilities], axis=-1)
    names = _class_names_for(args, model, probabilities.shape[-1])
    top = max(1, min(args.top, probabilities.shape[-1]))
    for path, p in zip(args.images, probabilities):
        order = np.argsort(-p, kind="stable")[:top]
        say(f"{path}:")
        for rank, k in enumerate(order, start=1):
            say(f"  {rank}. {names[k]:<14} {p[k]:.4f}")
    return 0


# -- subcommands owned by other modules ---------------------------------------------------------
def _delegate(module_name, description, argv):
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        print(f"tichchap: {description} is not available in this installation ({module_name}: {err})", file=sys.stderr)
        return EXIT_USAGE
    if not hasattr(module, "main"):
        print(f"tichchap: {description} is not available ({module_name} has no main())", file=sys.stderr)
        return EXIT_USAGE
    return int(module.main(argv) or 0)


DELEGATED = {
    "featuremaps": ("tichchap.visualize", "featuremaps (feature-map pictures)"),
    "golden": ("tichchap.hardware.cli", "golden (the hardware golden model)"),
}


# -- the parser -----------------------------------------------------------------------------------
def build_parser():
    parser = argparse.ArgumentParser(prog="tichchap", description="tichchap: train, evaluate and inspect CNNs "
                                     "(a NumPy framework with the Keras API).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    train = sub.add_parser("train", help="train a model and save it with its curves and test accuracy",
                           description="Train MODEL (an application name or a model file) and write the model, "
                                       "history.json, metrics.json, curves.png and confusion.png into --out.")
    train.add_argument("model", metavar="MODEL", help="lenet, small_cnn, mlp, food_net, simple_binary_cnn, or a model file")
    train.add_argument("--dataset", choices=DATASETS, help="default: fashion_mnist (the embedded sample when the "
                       "full data set is not found)")
    train.add_argument("--epochs", type=int, help="total epochs (default 10); with --resume, the epoch to train up to")
    train.add_argument("--batch-size", type=int, help="default 128")
    train.add_argument("--optimizer", help="adam (default), sgd, rmsprop")
    train.add_argument("--learning-rate", type=float, help="default: the optimizer's Keras default")
    train.add_argument("--lr-schedule", choices=LR_SCHEDULES,
                       help="constant (default, as Keras), or cosine: decay from the learning rate to 0 over all the "
                            "epochs' steps (saved with the model, so --resume continues it)")
    train.add_argument("--seed", type=int, help="makes the run repeatable (default: a random seed, printed)")
    train.add_argument("--validation-split", type=float, help="fraction of the training images held out (default 0.1)")
    train.add_argument("--limit", type=int, help="use only the first N training and N test images (quick trials)")
    train.add_argument("--data-dir", help="folder holding the data set's files (else the usual search order)")
    train.add_argument("--out", help="output folder (default runs/MODEL)")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=cmd_train)

    evaluate = sub.add_parser("evaluate", help="test loss and accuracy of a saved model")
    evaluate.add_argument("model_file", metavar="MODEL_FILE")
    evaluate.add_argument("--dataset", choices=DATASETS, default="fashion_mnist")
    evaluate.add_argument("--data-dir")
    evaluate.add_argument("--limit", type=int, help="only the first N test images")
    evaluate.add_argument("--batch-size", type=int, default=256)
    evaluate.set_defaults(handler=cmd_evaluate)

    summary = sub.add_parser("summary", help="print a model's layers and parameter counts")
    summary.add_argument("model", metavar="MODEL|MODEL_FILE")
    summary.set_defaults(handler=cmd_summary)

    predict = sub.add_parser("predict", help="classify image files with a saved model")
    predict.add_argument("model_file", metavar="MODEL_FILE")
    predict.add_argument("images", metavar="IMAGE", nargs="+")
    predict.add_argument("--top", type=int, default=3, help="how many classes to show (default 3)")
    predict.add_argument("--classes", choices=DATASETS, help="class names of this data set (default: the one the "
                         "model was trained on, from run.json beside it; else class numbers)")
    predict.set_defaults(handler=cmd_predict)

    for name, (_, description) in DELEGATED.items():
        sub.add_parser(name, help=description, add_help=False)
    return parser


def main(argv=None):
    """Run the command line; returns the exit status (0 success, 1 error, 2 usage, 130 Ctrl-C)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module_name, description = DELEGATED[argv[0]]
        return _delegate(module_name, description, argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except TichchapError as err:
        print(f"tichchap {args.command}: error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except ImportError as err:
        print(f"tichchap {args.command}: error: a package is missing: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
