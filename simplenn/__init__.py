"""simplenn: the blog post's MNIST network built from TensorFlow's low-level pieces.

    import simplenn
    simplenn.set_up()                      # TensorFlow loads quietly, with XLA's cache (the CLI does this)
    from simplenn import Classifier, load_run, preset, train_and_evaluate
    summary = train_and_evaluate(preset("fixed").replace(dataset="digits"), run_dir="runs/digits")
    run = load_run("runs/digits")          # the trained network, back from its checkpoint
    run.predict(images), run.evaluate()
    Classifier(preset="fixed").fit(X, y)   # the same, as a scikit-learn estimator

The map: one folder per layer, in the order the data goes through a run. A module imports
only from the layers above it in this list (`tests/test_layout.py` checks both this map and
that rule), so a change belongs in the lowest layer that can hold it.

    errors.py                  `SimplennError`: a user's mistake, in one line, and how the CLI prints it
    machine/                   the process simplenn runs in
        quiet_tensorflow.py    `tf` for every module; `set_up()`, the one call that quiets its import
        compile_cache.py       XLA's programs kept on disk between runs
        file_safety.py         every file written atomically, never through a link
        memory.py              what work needs in memory, checked before it starts
        safe_text.py           text from data made harmless on a terminal, in a CSV, in a figure
    config.py                  the one `Config`: every setting with its reason; the presets
    nn/                        the post's mathematics
        network.py             `Network`: W1..WL, b1..bL and the forward pass, Z = A @ W + b
        losses.py              sigmoid and softmax cross-entropy, summed or averaged
        optimizers.py          Keras optimizers and learning-rate schedules
        backprop.py            the same gradients by hand, checked against the tape
        metrics.py             loss, accuracy and class scores of a network's logits
    datasets/                  find, verify and read the files (`load_dataset`)
        catalogue.py           the datasets known by name, their files and hashes
        cache.py               where dataset files live, and the one way one is written there
        download.py            one catalogue file downloaded: streamed, retried, verified
        integrity.py           a file checked against its catalogue hashes
        manage.py              the `simplenn data` commands
        loading.py             `load_dataset`: any name or path to Keras's pair of splits
        dataset.py             what every reader returns
        validation.py          what every split must satisfy
        idx.py                 MNIST's IDX files
        emnist.py              EMNIST's letters and digits
        npz.py                 NumPy `.npz`/`.npy`, never unpickled
        csv.py                 Kaggle's CSV of pixels
        digits.py              scikit-learn's 8x8 digits and their split, without importing it
        image_folder.py        a folder of class folders of images; how every image file is opened
    images/                    a user's picture made into a dataset's input
        preprocessing.py       the recipes: crop, box, centre, invert, per dataset
        photos.py              photos and drawings made from known images, to measure the recipes
    training/                  a network trained
        data.py                load -> check -> scale -> split: the tensors a run trains on
        augmentation.py        moved and mirrored training images
        step.py                `train_step` (the post's backward) and the eager loop it is checked against
        trainer.py             `Trainer`: one driver, compiled blocks of steps through `strategy.run`; `fit`
        progress.py            an epoch's record and its live line on a terminal
        checkpoints.py         the newest checkpoints, kept through kills
        cluster.py             TF_CONFIG's workers
        distribution.py        training under tf.distribute (`--strategy`)
    runs/                      a run on disk and back
        run_directory.py       what a run writes: config, history, summary, TensorBoard
        contract.py            what a run reads: input kind, shape, scaling, recipe, data source
        interruption.py        Ctrl-C and SIGTERM end a run with its files whole
        run_rules.py           what a run must meet before it starts, for the CLI and Python alike
        experiment.py          `train_and_evaluate`: data -> training -> scores -> run directory
        loaded_run.py          `load_run`: a finished run, to predict and evaluate
        evaluation.py          a run's scores on its test split
    explain/                   looking inside a run
        figures.py             every figure: a run's, the post's sample, the ablation, the sweep
        diagnose.py            what goes wrong in the first steps: gradients, dead ReLUs, overflow
        run_checks.py          the diagnosis in words
        report.py              one HTML page of a run (`--lang ko`)
        compare.py             runs side by side
        ablate.py              the post's program changed one step at a time into the fix
    estimator.py               `Classifier`: the same training as a scikit-learn estimator
    serving/                   using a trained network
        prediction.py          `simplenn predict`: a run's classes for new images
        export.py              SavedModel and TFLite
        server.py              `simplenn serve`: the REST API and the draw page (static/)
        lab.py                 `simplenn lab`: switch the post's mistakes and watch a run train (static/)
        lab_run.py             one lab run in its own process, sending what it measures as it trains
        web.py                 what both servers share: uvicorn's limits, the Host check, JSON errors
    bench/                     what `simplenn bench` runs
        benchmark.py           simplenn against its peers on the same network
        systems.py             each peer's training: Keras, scikit-learn, PyTorch, JAX
        sweep.py               `bench sweep`: speed against width, depth and batch size
        strategies.py          `bench strategies`: speed against the replica count
    doctor.py                  `simplenn doctor`: is this machine ready to train
    cli/                       the `simplenn` command: it parses, calls the layers above and maps errors
        flags.py               argparse's types, `Config`'s fields as flags, the options commands share
        training.py            `train`, `show`, `data`
        explaining.py          `diagnose`, `ablate`, `evaluate`, `plot`, `report`, `compare`
        bench.py               `bench`, `bench sweep`, `bench strategies`
        serving.py             `predict`, `export`, `serve`, `lab`
        doctor.py              `doctor` and `--version`
        program.py             the entry point: every command registered, set-up, errors to exit codes

TensorFlow loads only when `Network`, `train_and_evaluate` or `load_run` is first used, so
`simplenn data ...` and configuration errors answer at once. Importing any module changes
nothing in the process; `set_up()` is the one call that does.
"""

from simplenn.config import PRESETS, Config, preset
from simplenn.machine.quiet_tensorflow import set_up

__all__ = ["Classifier", "Config", "Network", "PRESETS", "load_run", "preset", "set_up", "train_and_evaluate"]


def __getattr__(name):
    if name == "Classifier":
        from simplenn.estimator import Classifier

        return Classifier
    if name == "Network":
        from simplenn.nn.network import Network

        return Network
    if name == "train_and_evaluate":
        from simplenn.runs.experiment import train_and_evaluate

        return train_and_evaluate
    if name == "load_run":
        from simplenn.runs.loaded_run import load_run

        return load_run
    raise AttributeError(f"module 'simplenn' has no attribute {name!r}")
