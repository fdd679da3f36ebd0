"""The ``tichchap`` command line: train writes every result file, --resume and Ctrl-C continue to
exactly the weights of an uninterrupted run, summary/evaluate/predict print the right numbers.

Training runs use small_cnn on the first 1,000 images of the embedded Fashion-MNIST sample
(900 train / 100 validation, batch 32): well under a second per epoch.
"""

import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

import tichchap
from tichchap import cli
from tichchap.errors import DataNotFoundError, ShapeError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICK = ["--dataset", "fashion_mnist_sample", "--limit", "1000", "--batch-size", "32", "--seed", "7", "--quiet"]


def train(out, *extra):
    return cli.main(["train", "small_cnn", *QUICK, "--out", str(out), *extra])


def sample_test_images(limit=1000):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (_, _), (x_test, y_test) = tichchap.datasets.load("fashion_mnist_sample")
    return x_test[:limit], y_test[:limit]


def weights_of(path):
    return tichchap.load_model(path).get_weights()


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory):
    """An uninterrupted 2-epoch run: the reference for resume and the model for the other commands."""
    out = tmp_path_factory.mktemp("run") / "small"
    assert train(out, "--epochs", "2") == 0
    return out


def test_train_writes_model_history_metrics_and_pictures(two_epoch_run, capsys):
    from PIL import Image

    out = two_epoch_run
    for name in ("model.npz", "history.json", "metrics.json", "run.json", "curves.png", "confusion.png"):
        assert (out / name).is_file(), name
    for name in ("curves.png", "confusion.png"):
        with Image.open(out / name) as im:
            im.verify()
            assert im.format == "PNG" and im.size[0] > 300 and im.size[1] > 300

    history = json.loads((out / "history.json").read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"}
    assert all(len(v) == 2 for v in history.values())
    assert history["loss"][1] < history["loss"][0]

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "fashion_mnist_sample" and metrics["epochs"] == 2
    assert metrics["test_samples"] == 1000
    assert metrics["seconds_per_epoch"] == pytest.approx(np.mean(history["seconds"]), abs=1e-3)
    assert 0.3 < metrics["test_accuracy"] <= 1.0

    # The saved model reproduces the reported test accuracy exactly.
    model = tichchap.load_model(out / "model.npz")
    assert model.completed_epochs == 2 and model.count_params() == 6526
    x_test, y_test = sample_test_images()
    _, accuracy = model.evaluate(cli.fit_to_model(x_test, model.input_shape), y_test, verbose=0)
    assert accuracy == metrics["test_accuracy"]


def test_train_prints_where_results_are(tmp_path, capsys):
    out = tmp_path / "one"
    assert train(out, "--epochs", "1", "--limit", "300") == 0
    printed = capsys.readouterr().out
    assert "embedded Fashion-MNIST sample" in printed
    assert f"Results in {os.path.abspath(out)}" in printed
    assert "Test accuracy:" in printed and "s per epoch" in printed


def test_resume_reaches_the_uninterrupted_weights_bit_for_bit(two_epoch_run, tmp_path, capsys):
    out = tmp_path / "resumed"
    assert train(out, "--epochs", "1") == 0
    assert tichchap.load_model(out / "model.npz").completed_epochs == 1
    # No options but --out and the new epoch count: the rest comes from run.json.
    assert cli.main(["train", "small_cnn", "--out", str(out), "--epochs", "2", "--resume", "--quiet"]) == 0
    assert "Resuming" in capsys.readouterr().out
    for resumed, straight in zip(weights_of(out / "model.npz"), weights_of(two_epoch_run / "model.npz")):
        np.testing.assert_array_equal(resumed, straight)
    assert json.loads((out / "history.json").read_text())["val_loss"] == \
        json.loads((two_epoch_run / "history.json").read_text())["val_loss"]
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] == \
        json.loads((two_epoch_run / "metrics.json").read_text())["test_accuracy"]


STEPS_PER_EPOCH = 29  # 900 training images / batch 32


def press_ctrl_c_at_step(monkeypatch, step):
    """Make training raise KeyboardInterrupt at its ``step``-th step (1-based); returns the undo."""
    original = tichchap.training.Trainer._train_step
    calls = []

    def interrupted_step(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == step:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(tichchap.training.Trainer, "_train_step", interrupted_step)
    return lambda: monkeypatch.setattr(tichchap.training.Trainer, "_train_step", original)


def test_ctrl_c_keeps_last_finished_epoch_and_resume_completes(two_epoch_run, tmp_path, monkeypatch, capsys):
    out = tmp_path / "interrupted"
    undo = press_ctrl_c_at_step(monkeypatch, STEPS_PER_EPOCH + 5)  # inside epoch 2
    assert train(out, "--epochs", "2") == cli.EXIT_INTERRUPTED
    printed = capsys.readouterr().out
    assert "model after epoch 1" in printed and "--resume" in printed
    assert tichchap.load_model(out / "model.npz").completed_epochs == 1
    assert len(json.loads((out / "history.json").read_text())["loss"]) == 1
    assert not (out / "metrics.json").exists()

    undo()
    assert cli.main(["train", "small_cnn", "--out", str(out), "--resume", "--quiet"]) == 0
    for resumed, straight in zip(weights_of(out / "model.npz"), weights_of(two_epoch_run / "model.npz")):
        np.testing.assert_array_equal(resumed, straight)


def test_cosine_schedule_spans_the_run_and_resumes_on_it(two_epoch_run, tmp_path, monkeypatch, capsys):
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    assert train(straight, "--epochs", "2", "--lr-schedule", "cosine") == 0
    assert "adam with a cosine learning rate" in capsys.readouterr().out
    optimizer = tichchap.load_model(straight / "model.npz").optimizer
    assert isinstance(optimizer.learning_rate, tichchap.optimizers.schedules.CosineDecay)
    assert optimizer.learning_rate.decay_steps == optimizer.iterations == 2 * STEPS_PER_EPOCH
    assert optimizer.current_learning_rate() == 0.0  # decayed to 0 at the last step
    assert not np.array_equal(weights_of(straight / "model.npz")[0], weights_of(two_epoch_run / "model.npz")[0])

    undo = press_ctrl_c_at_step(monkeypatch, STEPS_PER_EPOCH + 5)
    assert train(interrupted, "--epochs", "2", "--lr-schedule", "cosine") == cli.EXIT_INTERRUPTED
    undo()
    assert cli.main(["train", "small_cnn", "--out", str(interrupted), "--resume", "--quiet"]) == 0
    for resumed, whole in zip(weights_of(interrupted / "model.npz"), weights_of(straight / "model.npz")):
        np.testing.assert_array_equal(resumed, whole)


def test_resume_without_a_saved_model_is_an_error(tmp_path, capsys):
    assert cli.main(["train", "small_cnn", "--out", str(tmp_path / "none"), "--resume"]) == cli.EXIT_ERROR
    assert "no saved model to continue from" in capsys.readouterr().err


def test_summary_prints_parameter_counts(two_epoch_run, capsys):
    assert cli.main(["summary", "small_cnn"]) == 0
    printed = capsys.readouterr().out
    assert "Total params: 6,526" in printed and "Trainable params: 6,482" in printed
    assert "Non-trainable params: 44" in printed
    assert cli.main(["summary", str(two_epoch_run / "model.npz")]) == 0
    assert "Total params: 6,526" in capsys.readouterr().out


def test_summary_of_unknown_model(capsys):
    assert cli.main(["summary", "resnet9000"]) == cli.EXIT_ERROR
    err = capsys.readouterr().err
    assert "neither a model name nor a model file" in err and "lenet" in err


def test_evaluate_prints_the_saved_accuracy(two_epoch_run, capsys):
    metrics = json.loads((two_epoch_run / "metrics.json").read_text())
    args = ["evaluate", str(two_epoch_run / "model.npz"), "--dataset", "fashion_mnist_sample", "--limit", "1000"]
    assert cli.main(args) == 0
    assert f"accuracy {metrics['test_accuracy']:.4f}" in capsys.readouterr().out


def test_predict_prints_probabilities(two_epoch_run, tmp_path, capsys):
    from PIL import Image

    x_test, y_test = sample_test_images(3)
    paths = []
    for i, image in enumerate(x_test):
        path = tmp_path / f"item{i}.png"
        Image.fromarray(image, mode="L").resize((56, 56)).convert("RGB").save(path)  # resized back, gray again
        paths.append(str(path))
    assert cli.main(["predict", str(two_epoch_run / "model.npz"), *paths, "--top", "10"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == paths[0] + ":"
    blocks = [printed[i * 11 + 1:(i + 1) * 11] for i in range(3)]
    names = tichchap.datasets.class_names("fashion_mnist")
    for block in blocks:
        probabilities = [float(line.split()[-1]) for line in block]
        assert sum(probabilities) == pytest.approx(1.0, abs=2e-3)  # printed to 4 decimals
        assert probabilities == sorted(probabilities, reverse=True)
        assert {" ".join(line.split()[1:-1]) for line in block} == set(names)

    # --top 3 with the model's own predictions: the first line is its argmax.
    model = tichchap.load_model(two_epoch_run / "model.npz")
    x = np.stack([cli.load_image_for(model, p) for p in paths])
    expected = model.predict(x, verbose=0).argmax(axis=1)
    assert cli.main(["predict", str(two_epoch_run / "model.npz"), paths[0], "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and lines[1].split()[1:-1] == names[expected[0]].split()


def test_image_for_model_shapes(two_epoch_run, tmp_path):
    from PIL import Image

    path = tmp_path / "colour.png"
    Image.fromarray(np.full((40, 30, 3), 255, np.uint8)).save(path)
    gray = cli.load_image_for(tichchap.load_model(two_epoch_run / "model.npz"), path)
    assert gray.shape == (28, 28, 1) and gray.dtype == np.float32 and np.allclose(gray, 1.0)
    flat = cli.load_image_for(tichchap.applications.mlp(), path)
    assert flat.shape == (784,)


def test_data_that_does_not_fit_the_model_is_refused():
    lenet_input = tichchap.applications.lenet().input_shape
    cifar_like = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ShapeError, match="28x28 images with 1 channel.*32x32 images with 3 channel"):
        cli.fit_to_model(cifar_like, lenet_input, "data set 'cifar10'")
    x = cli.fit_to_model(np.full((2, 28, 28), 255, np.uint8), (None, 784))
    assert x.shape == (2, 784) and x.dtype == np.float32 and x.max() == 1.0
    with pytest.raises(ShapeError, match="output has 2 unit"):
        cli.check_classes(tichchap.applications.food_net(), 10, "mnist")


def test_missing_fashion_mnist_falls_back_to_the_sample(monkeypatch, capsys):
    real_load = tichchap.datasets.load

    def load(name, path=None, **kwargs):
        if name == "fashion_mnist":
            raise DataNotFoundError("fashion_mnist: data set not found; looked everywhere")
        return real_load(name, path, **kwargs) if path else real_load(name)

    monkeypatch.setattr(tichchap.datasets, "load", load)
    used, ((x_train, _), (x_test, _)), names = cli.load_dataset("fashion_mnist")
    assert used == "fashion_mnist_sample" and x_train.shape == (6000, 28, 28) and len(x_test) == 1000
    assert names[0] == "T-shirt/top"
    printed = capsys.readouterr().out
    assert "Fashion-MNIST was not found" in printed and "embedded sample" in printed
    with pytest.raises(DataNotFoundError):  # other data sets do not fall back
        monkeypatch.setattr(tichchap.datasets, "load", lambda *a, **k: (_ for _ in ()).throw(DataNotFoundError("x")))
        cli.load_dataset("mnist")


def test_subcommands_of_other_modules_are_delegated(monkeypatch, capsys):
    seen = []
    fake = types.ModuleType("fake_featuremaps")
    fake.main = lambda argv: seen.append(argv) or 0
    monkeypatch.setitem(sys.modules, "tichchap.visualize", fake)
    assert cli.main(["featuremaps", "lenet", "x.png", "--out", "maps"]) == 0
    assert seen == [["lenet", "x.png", "--out", "maps"]]

    monkeypatch.setitem(cli.DELEGATED, "golden", ("tichchap.no_such_module", "golden (the hardware golden model)"))
    assert cli.main(["golden", "--help"]) == cli.EXIT_USAGE
    assert "not available" in capsys.readouterr().err


def test_tqdm_progress_bar_shows_batches_and_metrics():
    import io

    tqdm = pytest.importorskip("tqdm").tqdm
    stream = io.StringIO()
    model = tichchap.applications.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).random((64, 784), dtype=np.float32)
    model.fit(x, np.arange(64) % 10, batch_size=16, epochs=2, validation_split=0.25, verbose=0,
              callbacks=[cli.TqdmProgress(tqdm, stream=stream, min_interval=0)])
    text = stream.getvalue()
    assert "Epoch 1/2" in text and "Epoch 2/2" in text and "3/3" in text
    assert "loss=" in text and "acc=" in text and "val_acc=" in text


def test_progress_falls_back_to_keras_text_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import fails as if tqdm were missing
    assert cli.progress_callbacks() == ([], 1)
    assert cli.progress_callbacks(enabled=False) == ([], 0)


def test_python_dash_m_entry_point():
    done = subprocess.run([sys.executable, "-m", "tichchap", "summary", "mlp"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Total params: 101,770" in done.stdout
    usage = subprocess.run([sys.executable, "-m", "tichchap"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert usage.returncode == cli.EXIT_USAGE and "train" in usage.stdout
