"""Accuracy of the reference models on Fashion-MNIST, tichchap beside PyTorch in the same run.

What it measures (issue 3, "What it must show"):

- LeNet (``tichchap.applications.lenet``), Adam (Keras defaults: lr 1e-3, eps 1e-7), batch 128,
  10 epochs, one run per seed: test accuracy and seconds per epoch.
- small_cnn and mlp, 5 epochs each, trained by tichchap and by PyTorch (same architecture, same
  Keras-style initialisation: glorot-uniform kernels, zero biases, batch norm momentum 0.01 in
  PyTorch's convention = Keras' 0.99, eps 1e-3; same Adam settings, batch size and epochs).

Data: the full Fashion-MNIST (found as ``tichchap.datasets.load`` finds it), scaled to [0, 1].
No validation split: the whole training set trains, the test set is only evaluated at the end.

Every run is merged into ``benchmarks/results/accuracy.json`` (keyed by model, framework, seed,
initialiser, epochs), and ``accuracy.md`` is rewritten from all stored runs, so seeds can be run
one at a time (in the background) and the table fills up. Repeat with::

    python benchmarks/accuracy.py --models lenet --seeds 1 2 3
    python benchmarks/accuracy.py --models lenet --seeds 1 2 3 --init he_uniform
    python benchmarks/accuracy.py --models lenet --seeds 1 2 3 --init torch_default
    python benchmarks/accuracy.py --models lenet --seeds 1 2 3 --inputs flipped
    python benchmarks/accuracy.py --models lenet --seeds 1 2 3 --lr cosine
    python benchmarks/accuracy.py --models small_cnn mlp --seeds 1 --torch
"""

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import tichchap  # noqa: E402  before NumPy: its runtime settings (tichchap._runtime) must precede it
import numpy as np  # noqa: E402
from tichchap import applications, datasets  # noqa: E402
from tichchap.utils.fileio import atomic_write  # noqa: E402
from tichchap.utils.random import make_rng  # noqa: E402

RESULTS = os.path.join(HERE, "results")
DEFAULT_EPOCHS = {"lenet": 10, "small_cnn": 5, "mlp": 5}


def load_data(name, inputs="unit"):
    """Images scaled to [0, 1] (``inputs="unit"``), or then standardised with the training set's
    pixel mean and standard deviation (``"standardized"``, as PyTorch's ``Normalize`` does)."""
    (x_train, y_train), (x_test, y_test) = datasets.load(name)
    scale = lambda x: (x.astype(np.float32) / 255.0)[..., None]  # noqa: E731
    x_train, x_test = scale(x_train), scale(x_test)
    if inputs == "standardized":
        mean, std = x_train.mean(dtype=np.float64), x_train.std(dtype=np.float64)
        x_train, x_test = ((x - np.float32(mean)) / np.float32(std) for x in (x_train, x_test))
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)


def shape_for(model_name, x):
    return x.reshape(len(x), -1) if model_name == "mlp" else x


# -- tichchap -------------------------------------------------------------------------------------
class EpochTimer(tichchap.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        print(f"  epoch {epoch + 1}: {self.seconds[-1]:.1f} s, loss {logs['loss']:.4f}, "
              f"accuracy {logs['accuracy']:.4f}", flush=True)


TORCH_DEFAULT = "torch_default"


def torch_default_initialisation(model):
    """Re-draw every Conv2D and Dense layer's kernel and bias as PyTorch's defaults do:
    uniform in +-1/sqrt(fan_in), fan_in = kernel height * width * input channels (or input units).
    (PyTorch's weights come from kaiming_uniform_(a=sqrt(5)), which is that same bound.)"""
    rng = make_rng()
    for layer in model.layers:
        if isinstance(layer, (tichchap.layers.Conv2D, tichchap.layers.Dense)):
            kernel, bias = layer.get_weights()
            bound = 1.0 / np.sqrt(np.prod(kernel.shape[:-1]))
            layer.set_weights([rng.uniform(-bound, bound, kernel.shape).astype(kernel.dtype),
                               rng.uniform(-bound, bound, bias.shape).astype(bias.dtype)])


def flip_half(x, rng):
    """A copy of the (N, H, W, C) images with a random half mirrored left to right."""
    flipped = x.copy()
    chosen = rng.random(len(x)) < 0.5
    flipped[chosen] = x[chosen, :, ::-1]
    return flipped


COSINE = "cosine"


def steps_in(epochs, samples, batch_size):
    return epochs * math.ceil(samples / batch_size)


def run_tichchap(model_name, data, seed, epochs, batch_size, init, inputs="unit", lr="constant"):
    x_train, y_train, x_test, y_test = data
    tichchap.utils.clear_session()
    tichchap.utils.set_random_seed(seed)
    kwargs = {"kernel_initializer": init} if model_name == "lenet" and init != TORCH_DEFAULT else {}
    model = applications.get(model_name)(**kwargs)
    if init == TORCH_DEFAULT:
        torch_default_initialisation(model)
    learning_rate = 1e-3  # Keras' default for Adam
    if lr == COSINE:  # from 1e-3 down to 0 at the last step of the last epoch
        learning_rate = tichchap.optimizers.schedules.CosineDecay(1e-3, steps_in(epochs, len(x_train), batch_size))
    model.compile(optimizer=tichchap.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    timer = EpochTimer()
    if inputs == "flipped":  # a fresh random half of the training images mirrored every epoch
        rng, train_accuracy = make_rng(), []
        for epoch in range(epochs):
            history = model.fit(shape_for(model_name, flip_half(x_train, rng)), y_train, batch_size=batch_size,
                                epochs=epoch + 1, initial_epoch=epoch, callbacks=[timer], verbose=0)
            train_accuracy += history.history["accuracy"]
        history.history["accuracy"] = train_accuracy
    else:
        history = model.fit(shape_for(model_name, x_train), y_train, batch_size=batch_size, epochs=epochs,
                            callbacks=[timer], verbose=0)
    _, test_accuracy = model.evaluate(shape_for(model_name, x_test), y_test, batch_size=500, verbose=0)
    return {"test_accuracy": float(test_accuracy), "seconds_per_epoch": statistics.mean(timer.seconds),
            "train_accuracy": [float(a) for a in history.history["accuracy"]]}


# -- PyTorch --------------------------------------------------------------------------------------
def torch_model(model_name, torch, init):
    nn = torch.nn
    if model_name == "small_cnn":
        net = nn.Sequential(
            nn.Conv2d(1, 6, 1), nn.MaxPool2d(2), nn.BatchNorm2d(6, eps=1e-3, momentum=0.01), nn.ReLU(),
            nn.Conv2d(6, 16, 5), nn.MaxPool2d(2), nn.BatchNorm2d(16, eps=1e-3, momentum=0.01), nn.ReLU(),
            nn.Flatten(), nn.Linear(400, 10))
    elif model_name == "mlp":
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    elif model_name == "lenet":
        net = nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(1024, 1000), nn.ReLU(), nn.Linear(1000, 10))
    else:
        raise ValueError(f"no PyTorch twin for model {model_name!r}")
    if init == TORCH_DEFAULT:
        return net  # PyTorch initialised it already
    for module in net.modules():  # Keras' defaults, so the two frameworks start alike
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)
    return net


def run_torch(model_name, data, seed, epochs, batch_size, threads, init, lr="constant"):
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = data
    to_nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # noqa: E731
    xt, yt, xv, yv = to_nchw(x_train), torch.from_numpy(y_train), to_nchw(x_test), torch.from_numpy(y_test)
    net = torch_model(model_name, torch, init)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    if lr == COSINE:  # stepped after every batch, as tichchap's CosineDecay is
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps_in(epochs, len(xt), batch_size))
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        net.train()
        order = torch.randperm(len(xt), generator=generator)
        for i in range(0, len(xt), batch_size):
            index = order[i:i + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(net(xt[index]), yt[index])
            loss.backward()
            optimizer.step()
            if lr == COSINE:
                schedule.step()
        seconds.append(time.perf_counter() - start)
        print(f"  epoch {epoch + 1}: {seconds[-1]:.1f} s, last batch loss {loss.item():.4f}", flush=True)
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(xv[i:i + 1000]).argmax(1) == yv[i:i + 1000]).sum()) for i in range(0, len(xv), 1000))
    return {"test_accuracy": correct / len(xv), "seconds_per_epoch": statistics.mean(seconds)}


# -- results --------------------------------------------------------------------------------------
def machine():
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}"


def load_results(path):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"runs": []}


def merge(results, run):
    key = lambda r: (r["model"], r["framework"], r["seed"], r.get("init"), r.get("inputs", "unit"),  # noqa: E731
                     r.get("lr", "constant"), r["epochs"], r["dataset"])
    results["runs"] = [r for r in results["runs"] if key(r) != key(run)] + [run]


def markdown(results):
    lines = ["# Accuracy on Fashion-MNIST", "",
             "Made by `benchmarks/accuracy.py` (see its docstring for the exact settings and the commands).", "",
             "| model | framework | init | inputs | lr | dataset | epochs | seed | test accuracy | s/epoch | machine |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    runs = sorted(results["runs"], key=lambda r: (r["model"], r["framework"], r.get("init") or "", r.get("inputs", "unit"),
                                                  r.get("lr", "constant"), r["seed"]))
    for r in runs:
        lines.append(f"| {r['model']} | {r['framework']} | {r.get('init') or '-'} | {r.get('inputs', 'unit')} | "
                     f"{r.get('lr', 'constant')} | {r['dataset']} | {r['epochs']} | "
                     f"{r['seed']} | {100 * r['test_accuracy']:.2f}% | {r['seconds_per_epoch']:.1f} | {r['machine']} |")
    groups = {}
    for r in runs:
        groups.setdefault((r["model"], r["framework"], r.get("init") or "-", r.get("inputs", "unit"),
                           r.get("lr", "constant"), r["dataset"], r["epochs"]), []).append(r)
    lines += ["", "| model | framework | init | inputs | lr | dataset | epochs | runs | median test accuracy |",
              "|---|---|---|---|---|---|---|---|---|"]
    for (model, framework, init, inputs, lr, dataset, epochs), group in sorted(groups.items()):
        median = statistics.median(r["test_accuracy"] for r in group)
        lines.append(f"| {model} | {framework} | {init} | {inputs} | {lr} | {dataset} | {epochs} | {len(group)} | "
                     f"{100 * median:.2f}% |")
    return "\n".join(lines) + "\n"


def save(results, folder):
    with atomic_write(os.path.join(folder, "accuracy.json"), "w") as f:
        json.dump(results, f, indent=1)
    with atomic_write(os.path.join(folder, "accuracy.md"), "w") as f:
        f.write(markdown(results))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["lenet", "small_cnn", "mlp"], choices=sorted(DEFAULT_EPOCHS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, help="override the default epochs (lenet 10, small_cnn and mlp 5)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--init", default="glorot_uniform",
                        help="LeNet's kernel initializer (Keras' default: glorot_uniform), or torch_default: "
                             "kernels and biases uniform in +-1/sqrt(fan_in), as PyTorch initialises them")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--inputs", default="unit", choices=["unit", "standardized", "flipped"],
                        help="pixels scaled to [0, 1] (default); then standardised with the training set's mean and "
                             "std; or (tichchap only) a random half of the training images mirrored left-right each epoch")
    parser.add_argument("--lr", default="constant", choices=["constant", COSINE],
                        help="Adam's learning rate: 1e-3 throughout (Keras' default), or cosine decay from 1e-3 to 0 "
                             "over all the steps of the run (tichchap.optimizers.schedules.CosineDecay)")
    parser.add_argument("--torch", action="store_true", help="also train the PyTorch twin of each model")
    parser.add_argument("--no-tichchap", action="store_true", help="train only the PyTorch twins")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's thread count")
    parser.add_argument("--results", default=RESULTS, help="folder of accuracy.json and accuracy.md")
    parser.add_argument("--dry-run", action="store_true", help="print the table of stored runs and exit")
    args = parser.parse_args(argv)

    results = load_results(os.path.join(args.results, "accuracy.json"))
    if args.dry_run:
        print(markdown(results))
        return
    data = load_data(args.dataset, args.inputs)
    where = machine()
    for model_name in args.models:
        epochs = args.epochs or DEFAULT_EPOCHS[model_name]
        for seed in args.seeds:
            frameworks = ([] if args.no_tichchap else ["tichchap"]) + (["pytorch"] if args.torch else [])
            for framework in frameworks:
                init = args.init if model_name == "lenet" and (framework == "tichchap" or args.init == TORCH_DEFAULT) \
                    else "glorot_uniform"
                print(f"{model_name} / {framework} / seed {seed} / {init} / {args.lr} lr / {epochs} epochs", flush=True)
                if framework == "tichchap":
                    run = run_tichchap(model_name, data, seed, epochs, args.batch_size, init, args.inputs, args.lr)
                else:
                    run = run_torch(model_name, data, seed, epochs, args.batch_size, args.threads, init, args.lr)
                run.update({"model": model_name, "framework": framework, "seed": seed, "init": init, "epochs": epochs,
                            "inputs": args.inputs, "lr": args.lr, "batch_size": args.batch_size, "dataset": args.dataset, "machine": where,
                            "date": time.strftime("%Y-%m-%d")})
                print(f"  test accuracy {100 * run['test_accuracy']:.2f}%, {run['seconds_per_epoch']:.1f} s/epoch", flush=True)
                results = load_results(os.path.join(args.results, "accuracy.json"))  # another run may have written
                merge(results, run)
                save(results, args.results)
    print(markdown(results))


if __name__ == "__main__":
    main()
