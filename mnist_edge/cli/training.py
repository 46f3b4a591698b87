"""The training commands: ``train``, ``convert``, ``evaluate`` (TensorFlow imported inside)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from mnist_edge.cli.common import (
    DataOption,
    RuntimeOption,
    SeedOption,
    ThreadsOption,
    app,
    command_line,
    fail,
    import_quietly,
    user_errors,
)
from mnist_edge.training.convert import DEFAULT_CALIBRATION, IO_TYPES, QUANTS


class Arch(str, Enum):
    """Architectures ``train`` knows (kept here so parsing options needs no TensorFlow)."""

    edge = "edge"
    edge_base = "edge-base"
    edge_mnist = "edge-mnist"
    seed = "seed"


@app.command()
@user_errors
def train(
    arch: Annotated[
        Arch, typer.Option(help="'edge': the default model: edge-base's model fine-tuned on "
                                "MNIST plus printed digits rendered from fonts, through the "
                                "reader's crop; 'edge-base': the same architecture and mix from "
                                "scratch (20 epochs: its starting point); 'edge-mnist': the "
                                "same architecture on MNIST alone; "
                                "'seed': the classic Keras MNIST script, exactly.")
    ] = Arch.edge,
    epochs: Annotated[
        int | None, typer.Option(min=1, max=1000, help="Epochs [default: seed and edge-mnist 10; "
                                             "edge-base 20; edge 6, an epoch being one pass "
                                             "over the MNIST images of its mix; class folders "
                                             "30, more for a small set].",
                                 show_default=False)
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Batch size [default: seed 200, edge 128; class "
                                             "folders 32].",
                                 show_default=False)
    ] = None,
    seed: SeedOption = 0,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to save the Keras model (.h5); the metrics "
                                                "JSON goes next to it.")
    ] = Path("mnist_model.h5"),
    data: DataOption = None,
    train_samples: Annotated[
        int | None, typer.Option(min=1, help="Train on the first N training images only "
                                             "(quick runs).", show_default=False)
    ] = None,
    test_samples: Annotated[
        int | None, typer.Option(min=1, help="Evaluate on the first N test images only.",
                                 show_default=False)
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    base: Annotated[Path | None, typer.Option(
        "--from", metavar="MODEL.h5", help="The model to start from: class folders fine-tune "
        "it [default: the shipped models/edge.h5]; the edge recipe warm-starts from it "
        "[default: models/edge_base.h5, or an edge-base model trained first].",
        show_default=False)] = None,
    from_scratch: Annotated[bool, typer.Option(
        "--from-scratch", help="Class folders: train --arch afresh instead of fine-tuning.")
    ] = False,
    val_split: Annotated[float, typer.Option(
        min=0.01, max=0.9, help="Class folders: share of each class held out to measure the "
                                "model (ignored when DIR/train and DIR/test exist).")] = 0.2,
    photos: Annotated[Path | None, typer.Option(
        metavar="DIR", help="The edge recipe: add the digits of these grid photos' cells to "
        "the mix (v2/ and mixed/ photos, their .dat truth and corners.csv, as in "
        "../shared/data/grid_photos; the shipped model was trained so).",
        show_default=False)] = None,
) -> None:
    """Train a digit classifier on MNIST, or on your own crops in class folders.

    Prints the test accuracy and error like the classic Keras MNIST script, then a summary.
    With --data DIR holding one folder per class (DIR/0/*.png, DIR/1/..., DIR/N/..., any
    size, colour or grey), it fine-tunes the shipped model on them (30 epochs, augmented),
    holds out --val-split of each class (or uses DIR/train + DIR/test as given), and records
    the class names and crop preprocessing in the model's JSON sidecar.

    Examples:

    \b
      mnist-edge train --data ../shared/data/mnist.npz
      mnist-edge train --arch seed --out models/seed.h5
      mnist-edge train --photos ../shared/data/grid_photos --out edge.h5
      mnist-edge train --data crops/ --out meter.h5
      mnist-edge train --data crops/ --from-scratch --epochs 60 --out meter.h5
    """
    if out.suffix not in (".h5", ".keras"):
        raise fail(f"--out must end in .h5 (or .keras), got {out}")
    from mnist_edge.training.folders import is_class_folder

    if data is not None and is_class_folder(data):
        from mnist_edge.cli.folders import train_on_folders

        if photos is not None:
            raise fail("--photos applies to the edge recipe on MNIST, not to class folders")
        return train_on_folders(data, out, base, from_scratch, arch.value, epochs, batch_size,
                                seed, val_split, quiet)
    if from_scratch:
        raise fail("--from-scratch applies to class folders (--data DIR/<class>/)")
    if photos is not None and arch is not Arch.edge:
        raise fail(f"--photos applies to the edge recipe, not --arch {arch.value}")
    if base is not None and arch is not Arch.edge:
        raise fail("--from applies to the edge recipe and to class folders, not --arch "
                   f"{arch.value}")
    if base is not None and not base.is_file():
        raise fail(f"--from {base}: no such file")

    from mnist_edge.training.data import load_mnist

    dataset = load_mnist(data).subset(train_samples, test_samples)
    _run_training(dataset, arch.value, out, epochs, batch_size, seed, quiet, base, photos)


def _run_training(dataset, arch: str, out, epochs, batch_size, seed, quiet, init=None,
                  photos: Path | None = None) -> None:
    """Train with a rich progress bar and print the seed script's two lines plus a summary."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Table

    training = import_quietly("mnist_edge.training.train")
    cells = training.PhotoCells.check(photos) if photos is not None else None
    recipe = training.RECIPES[arch]
    n_epochs = epochs or recipe.epochs
    steps = -(-len(dataset.x_train) // (batch_size or recipe.batch_size)) if recipe.mix is None \
        else training.mixed_steps_per_epoch(len(dataset.x_train), batch_size or recipe.batch_size)
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}", BarColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), console=console, disable=quiet,
    ) as progress:
        callback = None if quiet else training.RichProgress(progress, n_epochs, steps)
        result = training.train(
            dataset, arch=arch, out=out, epochs=epochs, batch_size=batch_size, seed=seed,
            progress=callback, command=command_line(), init=init, photos=cells,
        )
    m = result.metrics
    print(f"Test Accuracy: {m['test_accuracy']:.4f}")
    print(f"Test Error: {m['test_error_percent']:.2f}")
    table = Table(title="training summary", show_header=False)
    for key, value in [
        ("architecture", arch), ("trainable parameters", f"{m['trainable_params']:,}"),
        ("epochs / batch", f"{m['epochs']} / {m['batch_size']}"),
        ("training time", f"{m['train_seconds']:.1f} s"),
        ("train / test images", f"{m['train_examples']:,} / {m['test_examples']:,}"),
        ("model", str(result.model_path)), ("metrics", str(result.metrics_path)),
    ]:
        table.add_row(key, value)
    photos = (m.get("sources") or {}).get("photos")
    if photos:
        table.add_row("photo cells", f"{photos['crops']:,} from {photos['photos']} photos "
                                     f"({photos['credit']})")
    Console(stderr=True).print(table)


Quant = Enum("Quant", {q: q for q in QUANTS}, type=str)  # convert --quant (owned by convert)
Quant.__doc__ = "``convert --quant`` choices."
IoType = Enum("IoType", {t: t for t in IO_TYPES}, type=str)  # convert --io
IoType.__doc__ = "``convert --io`` choices: the dtype of an int8 model's input and output tensors."
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="Use only the first N test images (quick "
                                                    "runs).", show_default=False)
]


@app.command()
@user_errors
def convert(
    model: Annotated[Path, typer.Argument(help="The trained Keras model (.h5 or .keras).",
                                          show_default=False)],
    quant: Annotated[Quant, typer.Option(
        help="int8: full integer (calibrated on training images); float16: half-size weights; "
             "dynamic: int8 weights, float activations; none: float32.")] = Quant.int8,
    io: Annotated[IoType, typer.Option(
        "--io", help="int8 only: dtype of the model's input/output (uint8 for runtimes that "
                     "want it; float keeps float I/O around the int8 body).")] = IoType.int8,
    calibration: Annotated[int, typer.Option(
        min=1, help="int8 only: training images used to calibrate, balanced across the 10 "
                    "classes.")] = DEFAULT_CALIBRATION,
    seed: SeedOption = 0,
    out_dir: Annotated[Path | None, typer.Option(
        "--out-dir", "-o", help="Where to write <name>_<quant>.tflite and .json [default: next "
                                "to MODEL].", show_default=False)] = None,
    data: DataOption = None,
    limit: LimitOption = None,
    runtime: RuntimeOption = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or table.")] = False,
) -> None:
    """Convert a Keras model to .tflite and measure the file's test accuracy against Keras.

    Writes <name>_<quant>.tflite and a sidecar <name>_<quant>.json: source sha256,
    quantization, input/output details, labels, test accuracy of both models.

    --quant none writes <name>_float32.tflite.

    Examples:

    \b
      mnist-edge convert models/edge.h5 --data ../shared/data/mnist.npz
      mnist-edge convert models/seed.h5 --quant float16 --out-dir /tmp/models
      mnist-edge convert meter.h5        # calibrated on the class folders it was trained on
    """
    from rich.console import Console

    from mnist_edge.training.convert import check_keras_file
    from mnist_edge.training.data import load_mnist

    check_keras_file(model)  # a wrong file fails before seconds of loading MNIST
    from mnist_edge.cli.folders import check_writable, folder_dataset_for
    from mnist_edge.training.convert import output_paths

    check_writable(output_paths(model, quant.value, io.value, out_dir)[0])

    console = Console(stderr=True, quiet=quiet)
    with console.status("loading MNIST") as status:
        # a model trained on class folders is calibrated and measured on them
        folders = folder_dataset_for(model, data, test_only=False)
        dataset = (folders or load_mnist(data)).subset(None, limit)
        result = _convert_with_status(model, dataset, quant.value, io.value, out_dir,
                                      calibration, seed, runtime.value, status)
    if not quiet:
        _print_convert_summary(result, console)


def _convert_with_status(model, dataset, quant, io_type, out_dir, calibration, seed, runtime,
                         status):
    from mnist_edge.training import convert as conv

    return conv.convert(
        model, dataset, quant=quant, io_type=io_type, out_dir=out_dir, calibration=calibration,
        seed=seed, runtime=runtime, command=command_line(),
        progress=lambda msg: status.update(msg),
    )



def _print_convert_summary(result, console) -> None:
    """The summary table: size, accuracy of Keras and of the file, the difference."""
    from rich.table import Table

    info = result.info
    table = Table(title="convert summary", show_header=False)
    for key, value in [
        ("model", str(result.tflite_path)), ("sidecar", str(result.sidecar_path)),
        ("quantization", f"{info['quantization']} (I/O {info['io_type']})"),
        ("size", f"{info['size_bytes'] / 1024:.1f} KB ({info['size_bytes']:,} bytes)"),
        ("test images", f"{info['test_examples']:,}"),
        ("Keras accuracy", f"{100 * info['keras_test_accuracy']:.2f}%"),
        (".tflite accuracy", f"{100 * info['test_accuracy']:.2f}% "
                             f"(measured with {info['measured_with']})"),
        ("difference", f"{info['accuracy_difference_pp']:+.2f} percentage points"),
        ("same prediction as Keras", f"{100 * info['agreement_with_keras']:.2f}%"),
    ]:
        table.add_row(key, value)
    console.print(table)


@app.command()
@user_errors
def evaluate(
    model: Annotated[Path, typer.Argument(help="A .tflite, .h5 or .keras model.",
                                          show_default=False)],
    out_dir: Annotated[Path | None, typer.Option(
        "--out-dir", "-o", help="Where to write <name>_eval.json, <name>_confusion.png and "
                                "<name>_errors.png [default: next to MODEL].",
        show_default=False)] = None,
    data: DataOption = None,
    limit: LimitOption = None,
    runtime: RuntimeOption = "auto",
    threads: ThreadsOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the two result lines.")
                     ] = False,
) -> None:
    """Measure a model on the MNIST test set, or on class folders: JSON metrics, confusion
    matrix and a picture sheet of the misread images.

    With --data DIR of class folders, every image there is read (only DIR/test when it
    exists; a model's own training folder: its hold-out), prepared as the model's sidecar
    says, and accuracy is reported per class name.

    Examples:

    \b
      mnist-edge evaluate models/edge_int8.tflite --data ../shared/data/mnist.npz
      mnist-edge evaluate models/seed.h5 --limit 1000 --out-dir /tmp/eval
      mnist-edge evaluate meter_int8.tflite --data crops/
    """
    from rich.console import Console

    from mnist_edge.training.data import load_mnist
    from mnist_edge.training.evaluate import check_model_file
    from mnist_edge.training.evaluate import evaluate as run_evaluation

    check_model_file(model)  # a wrong file fails before seconds of loading MNIST
    from mnist_edge.cli.folders import check_writable, folder_dataset_for, print_per_class
    from mnist_edge.training.evaluate import output_paths

    check_writable(output_paths(model, out_dir)[0])

    console = Console(stderr=True, quiet=quiet)
    with console.status("evaluating"):
        folders = folder_dataset_for(model, data, test_only=True)
        result = run_evaluation(model, folders or load_mnist(data), out_dir=out_dir,
                                limit=limit, runtime=runtime.value, threads=threads,
                                command=command_line())
    m = result.metrics
    print(f"Test Accuracy: {m['test_accuracy']:.4f}")
    print(f"Test Error: {m['test_error_percent']:.2f}")
    if folders is not None:
        print_per_class(m, console)
    worst = min(m["per_class_accuracy"].items(), key=lambda kv: kv[1])
    console.print(f"{m['test_examples']:,} test {'crops' if folders else 'digits'} with "
                  f"{m['runtime']}, "
                  f"{m['misclassified_count']} wrong, weakest class {worst[0]} "
                  f"({100 * worst[1]:.1f}%)")
    for path in (result.json_path, result.confusion_path, result.errors_path):
        console.print(f"wrote {path}")
