"""``mnist-edge collect`` and ``label``: gather crops for ``train --data``, then sort them on a
web page (no TensorFlow)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mnist_edge.cli.common import (
    AuthFileOption,
    AuthOption,
    ModelOption,
    RuntimeOption,
    ThreadsOption,
    app,
    fail,
    user_errors,
)
from mnist_edge.reading.collect import DEFAULT_MAX_CROPS, DEFAULT_MIN_CHANGE, DEFAULT_UNSURE_BELOW


@app.command()
@user_errors
def collect(
    out: Annotated[Path, typer.Option(
        "--out", "-o", help="Folder to fill: OUT/<guess>/*.png and OUT/unsure/*.png.",
        show_default=False)],
    source: Annotated[str, typer.Option(
        "--source", "-s", help="Camera index, video file, image, folder of images, or stream "
                               "URL (rtsp://, http://).")] = "0",
    model: ModelOption = None,
    unsure_below: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Crops the model is less sure of go to OUT/unsure/.")
    ] = DEFAULT_UNSURE_BELOW,
    max_crops: Annotated[int, typer.Option(
        "--max", min=1, help="Stop after saving this many crops.")] = DEFAULT_MAX_CROPS,
    min_change: Annotated[float, typer.Option(
        min=0.0, help="Skip a crop unless it differs from the last one saved at the same place "
                      "by this much (mean grey difference, 0-255; 0 keeps all).")
    ] = DEFAULT_MIN_CHANGE,
    max_frames: Annotated[int | None, typer.Option(
        min=1, help="Stop after N frames.", show_default=False)] = None,
    invert: Annotated[bool, typer.Option(
        "--invert", help="Light digits on a dark surface (finding them; a crop model handles "
                         "either polarity itself).")] = False,
    config: Annotated[Path | None, typer.Option(
        "--config", help="Meter config (TOML): save its regions, aligned as the meter reads "
                         "them, instead of the digits found; see 'mnist-edge regions'.",
        show_default=False)] = None,
    runtime: RuntimeOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Save the digit crops the reader finds as PNGs sorted by the model's guess.

    Then sort the wrongly guessed crops into their right folders (mnist-edge label OUT) and
    train on them: mnist-edge train --data OUT. Near-duplicates of an unchanged scene are
    skipped. With --config, each frame's crops are the meter's regions.

    Examples:

    \b
      mnist-edge collect --source 0 --out my_crops/ --max 500
      mnist-edge collect --source meter.mp4 --out my_crops/ --unsure-below 0.9
      mnist-edge collect --source rtsp://pi.local:8554/cam --out crops/ --max-frames 3000
      mnist-edge collect --source meter.mp4 --config meter.toml --out crops/
    """
    from mnist_edge.reading.collect import check_out_dir
    from mnist_edge.reading.collect import collect as run_collect
    from mnist_edge.reading.reader import make_reader

    meter = None
    if config is not None:
        from mnist_edge.reading.meter import load_config

        if invert:
            raise fail("with --config, set [read] invert = true in the config, not --invert")
        meter = load_config(config)  # before the camera or the model is opened
    check_out_dir(out)
    reader = make_reader(model, runtime.value, threads, invert=invert, min_confidence=0.0)
    summary = run_collect(source, reader, out, config=meter, unsure_below=unsure_below,
                          max_crops=max_crops, min_change=min_change, max_frames=max_frames,
                          on_status=lambda text: typer.echo(text, err=True))
    for line in summary.lines():
        typer.echo(line, err=True)


@app.command()
@user_errors
def label(
    folder: Annotated[Path, typer.Argument(
        help="The crops to sort: FOLDER/<class>/*.png and FOLDER/unsure/*.png, as collect "
             "writes them.", metavar="FOLDER", show_default=False)],
    serve: Annotated[str, typer.Option(
        "--serve", metavar="[HOST:]PORT", help="Where the page listens. A bare port binds to "
        "127.0.0.1 (this machine only); 0.0.0.0:PORT lets other machines in.")
    ] = "127.0.0.1:8080",
    auth: AuthOption = None,
    auth_file: AuthFileOption = None,
) -> None:
    """Sort crops into class folders on a web page: one key press files each crop.

    Shows the crops of FOLDER as a grid, unsure/ first. Press a digit (or a class's key, such
    as n for N) to move the selected crop into FOLDER/<class>/, x or Delete to move it into
    FOLDER/_discarded/ (which training skips); the next crop is selected. Nothing is deleted
    or overwritten. Ctrl-C stops and prints what was moved.

    Examples:

    \b
      mnist-edge label crops/              # open http://127.0.0.1:8080/label
      mnist-edge label crops/ --serve 8081
      mnist-edge label crops/ --serve 0.0.0.0:8080 --auth-file label.auth
    """
    from mnist_edge.web.labeler import serve_labels
    from mnist_edge.web.server import resolve_auth

    serve_labels(folder, serve, auth=resolve_auth(auth, auth_file),
                 echo=lambda text: typer.echo(text, err=True))
