"""The reading commands: ``predict``, ``webcam`` and ``serve`` (no TensorFlow)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from mnist_edge.cli.common import (
    EXIT_USER_ERROR,
    AuthFileOption,
    AuthOption,
    ModelOption,
    RuntimeOption,
    ThreadsOption,
    app,
    fail,
    user_errors,
)
from mnist_edge.cli.meter import (
    ConfigOption,
    MqttOption,
    PostOption,
    StateDirOption,
    meter_lines,
    meter_run,
)
from mnist_edge.reading.reader import MIN_CONFIDENCE

InvertOption = Annotated[bool, typer.Option(
    "--invert", help="Light ink on a dark surface (chalk on a board); default: dark ink on "
                     "light paper.")]
MinConfidenceOption = Annotated[float, typer.Option(
    min=0.0, max=1.0, help="Drop digits the model is less sure of than this.")]


@app.command()
@user_errors
def predict(
    paths: Annotated[list[Path], typer.Argument(
        help="Images, or folders of images (read in name order).", show_default=False)],
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help='One JSON object per image per line: {"path": ..., "digits": '
                       '[{"label", "confidence", "box": [x, y, w, h]}]}.')] = False,
    probabilities: Annotated[bool, typer.Option(
        help="With --json, add each digit's 10 class probabilities.")] = False,
    table: Annotated[Path | None, typer.Option(
        "--table", metavar="FILE.csv|FILE.json",
        help="Also write each grid or table found (rows x columns, empty cells empty) to "
             "this file.", show_default=False)] = None,
    invert: InvertOption = False,
    min_confidence: MinConfidenceOption = MIN_CONFIDENCE,
    runtime: RuntimeOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Read every digit in images: a photo of a page, a whole frame, or one cropped digit.

    Digits are listed left to right, rows top to bottom. In a grid or a table each digit
    also carries its cell (grid, row, column), and its empty cells are looked at again. A
    file that cannot be read gets an error line on stderr (exit status 2) and the others are
    still read.

    Examples:

    \b
      mnist-edge predict samples/
      mnist-edge predict photo.jpg --json
      mnist-edge predict scoresheet.jpg --table scores.csv
      mnist-edge predict chalkboard.png --invert --min-confidence 0.8
    \f
    Long because a Typer command's signature is its option list and its docstring is its
    --help; the code below is about 30 lines.
    """
    import json

    from mnist_edge.reading.predict import image_files, predict_files
    from mnist_edge.reading.reader import make_reader
    from mnist_edge.reading.table import check_table_path, tables_of, write_tables

    table_path = check_table_path(table) if table is not None else None
    files = image_files(paths)
    reader = make_reader(model, runtime.value, threads, invert=invert,
                         min_confidence=min_confidence, cells=True)
    failed = read = 0
    results, tables = [], []
    for result in predict_files(reader, files):
        if result.error:
            failed += 1
            typer.echo(f"error: {result.error}", err=True)
            continue
        read += 1
        tables.extend(tables_of(result.path, result.digits, result.grids))
        if as_json:
            typer.echo(json.dumps(result.to_dict(probabilities)))
        else:
            results.append(result)
    if not as_json and (results or not failed):
        _print_predictions(results)
    if table_path is not None and (read or not failed):  # (no image read: the file is kept)
        write_tables(table_path, tables)
        typer.echo(f"{len(tables)} table(s) written to {table_path}", err=True)
    if failed:
        raise typer.Exit(EXIT_USER_ERROR)


def _print_predictions(results) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("image", overflow="fold")
    table.add_column("reading")
    table.add_column("confidence")
    for r in results:
        confidence = " ".join(f"{d.confidence:.2f}" for d in r.digits)
        table.add_row(r.path, r.reading or "no digits found", confidence or "-")
    Console().print(table)


@app.command()
@user_errors
def webcam(
    source: Annotated[str, typer.Option(
        "--source", "-s", help="Camera index, video file, image, folder of images, or stream "
                               "URL (rtsp://, http://).")] = "0",
    model: ModelOption = None,
    headless: Annotated[bool | None, typer.Option(
        "--headless/--window", help="No window (a Pi without a monitor) / force one "
                                    "[default: a window if a display exists].",
        show_default=False)] = None,
    jsonl: Annotated[str | None, typer.Option(
        "--jsonl", metavar="FILE|-", help='Write one line per frame: {"frame": n, "time": s, '
                                          '"digits": [...]}; "-" for stdout.',
        show_default=False)] = None,
    invert: InvertOption = False,
    min_confidence: MinConfidenceOption = MIN_CONFIDENCE,
    runtime: RuntimeOption = "auto",
    threads: ThreadsOption = None,
    smooth: Annotated[int, typer.Option(
        min=0, help="Average each digit over about N frames so the reading does not flicker "
                    "(0: off).")] = 0,
    max_frames: Annotated[int | None, typer.Option(
        min=1, help="Stop after N frames.", show_default=False)] = None,
    cells: Annotated[bool, typer.Option(
        "--cells", help="Read grids and tables cell by cell, as predict does: each digit's "
                        "cell, a second look at empty cells, fewer rule stubs read as digits "
                        "(fewer frames per second on a grid).")] = False,
    serve: Annotated[str | None, typer.Option(
        "--serve", metavar="[HOST:]PORT", help="Also serve a live view in the browser: stream, "
        "reading, draw pad (a bare PORT binds 127.0.0.1; 0.0.0.0:PORT opens it to the "
        "network). A file source then plays at its own frame rate.", show_default=False)
    ] = None,
    loop: Annotated[bool, typer.Option(
        "--loop", help="Replay a file source from the start when it ends (a demo clip).")
    ] = False,
    auth: AuthOption = None,
    auth_file: AuthFileOption = None,
    config: ConfigOption = None,
    mqtt: MqttOption = None,
    post: PostOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Read digits live from a camera, a video, images or a stream.

    Shows boxes, labels, confidence and FPS in a window where a display exists (q or Esc
    quits, s saves a snapshot); headless otherwise. A file source is read frame by frame, in
    order, to its end. Ctrl-C stops cleanly and prints a summary.

    Examples:

    \b
      mnist-edge webcam                                 # camera 0, window
      mnist-edge webcam --source samples/digits.mp4 --headless --jsonl -
      mnist-edge webcam --source rtsp://pi.local:8554/cam --jsonl readings.jsonl --smooth 5
      mnist-edge webcam --serve 0.0.0.0:8080 --headless  # open http://<pi>:8080/
      mnist-edge webcam --source samples/digits.mp4 --serve 8080 --loop
      mnist-edge webcam --source puzzle.mp4 --headless --cells --jsonl -
      mnist-edge webcam --config meter.toml --mqtt mqtt://ha:secret@homeassistant.local
    \f
    Long because a Typer command's signature is its option list and its docstring is its
    --help; the code below is about 30 lines.
    """
    from mnist_edge.reading import live
    from mnist_edge.reading.reader import make_reader
    from mnist_edge.web.server import resolve_auth

    login = resolve_auth(auth, auth_file)  # before the camera opens
    if login is not None and serve is None:
        raise fail("--auth/--auth-file protect the --serve view: add --serve [HOST:]PORT")
    reader = make_reader(model, runtime.value, threads, invert=invert,
                         min_confidence=min_confidence, cells=cells)
    say = functools.partial(typer.echo, err=True)
    with meter_run(reader, config, mqtt, post, state_dir, say) as hooks:
        # headless: a reading line now and then on stderr (unless stdout carries --jsonl -)
        run = functools.partial(live.run, source, reader, headless=headless, jsonl=jsonl,
                                smoothing=smooth, max_frames=max_frames, loop=loop,
                                on_progress=None if jsonl == "-" else say,
                                read_frame=hooks.read_frame, on_reading=hooks.on_reading)
        if serve is None:
            summary = run(on_status=say)
        else:
            from mnist_edge.web.server import live_server

            with live_server(serve, model, runtime=runtime.value, threads=threads,
                             echo=say, auth=login) as hub:
                hooks.add_status_to(hub)  # /status: values, skips, broker state

                def status(text: str) -> None:
                    say(text)
                    hub.set_status(text)

                # realtime: a file plays at its own FPS so the stream looks live (cameras
                # ignore it)
                summary = run(on_status=status, on_frame=hub.publish, realtime=True)
    extra = hooks.status()  # after meter_run has stopped the publishers (queue flushed)
    for line in [*summary.lines(), *meter_lines(extra)]:
        say(line)
    if summary.skipped:  # bad files were reported one per line; the good ones were read
        raise typer.Exit(EXIT_USER_ERROR)

@app.command()
@user_errors
def serve(
    address: Annotated[str, typer.Argument(
        help="[HOST:]PORT to listen on. A bare port binds to 127.0.0.1 (this machine only); "
             "use 0.0.0.0:PORT to let other machines in.", metavar="[HOST:]PORT",
    )] = "127.0.0.1:8080",
    model: ModelOption = None,
    runtime: RuntimeOption = "auto",
    threads: ThreadsOption = None,
    auth: AuthOption = None,
    auth_file: AuthFileOption = None,
    config: ConfigOption = None,
    state_dir: StateDirOption = None,
) -> None:
    """Serve the draw-a-digit page, POST /predict and /healthz (no camera needed).

    Open http://HOST:PORT/draw, draw a digit, and see what the model reads with the
    probabilities of all ten classes. Scripts can POST a PNG or JPEG to /predict. Ctrl-C stops.
    With --config, /predict reads a meter's regions from each posted frame (a camera board
    that pushes snapshots) and answers with its values too.

    Examples:

    \b
      mnist-edge serve                       # http://127.0.0.1:8080/draw
      mnist-edge serve 0.0.0.0:8080 --model models/seed_int8.tflite
      curl --data-binary @digit.png http://127.0.0.1:8080/predict
      mnist-edge serve 8080 --config meter.toml   # POST frames of the meter to /predict
    """
    from mnist_edge.web.server import resolve_auth
    from mnist_edge.web.server import serve as serve_web

    meter = None
    if config is not None:
        from mnist_edge.reading.meter import Meter, load_config

        meter_config = load_config(config)  # a bad file is one line before the port opens
        meter = functools.partial(Meter, meter_config, state_dir=state_dir)
    serve_web(address, model, runtime=runtime.value, threads=threads,
              echo=lambda text: typer.echo(text, err=True),
              auth=resolve_auth(auth, auth_file), meter=meter)
