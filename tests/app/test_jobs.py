"""The batch manifest (talkface.batch.manifest): rows read with their line numbers, every row checked before any work, with
the CLI's own messages; the batch refuses to start on a bad row unless told to skip it (talkface.batch)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from talkface import batch, cli
from talkface.batch.manifest import read_jobs, read_rows


@pytest.fixture
def folder(tmp_path):
    """A manifest folder with a photo and a recording (only their presence is checked before running)."""
    (tmp_path / "face.png").write_bytes(b"not decoded before the job runs")
    (tmp_path / "speech.wav").write_bytes(b"likewise")
    (tmp_path / "out").mkdir()
    return tmp_path


def write_csv(folder: Path, text: str) -> Path:
    path = folder / "jobs.csv"
    path.write_text(text)
    return path


def check(folder: Path, text: str, name: str = "jobs.csv"):
    manifest = write_csv(folder, text) if name.endswith(".csv") else folder / name
    if not name.endswith(".csv"):
        manifest.write_text(text)
    return read_jobs(read_rows(manifest), folder, folder / "out", manifest.name)


def errors(jobs) -> list[str | None]:
    return [job.error for job in jobs]


def test_csv_rows_keep_their_line_numbers(folder):
    rows = read_rows(write_csv(folder, 'command,image,audio,out\n\nsynth,face.png,speech.wav,"a\nb.mp4"\n'
                                       "synth,face.png,speech.wav,c.mp4\n"))
    assert [line for line, _ in rows] == [3, 5]  # a blank line skipped; a quoted cell over two lines
    assert rows[0][1]["out"] == "a\nb.mp4"


def test_valid_rows_become_the_solo_command_line(folder):
    jobs = check(folder, "command,image,audio,out,seed,no-blink,save_landmarks\n"
                         "synth,face.png,speech.wav,a.mp4,7,yes,sub/a.npz\n"
                         f"synth,{folder}/face.png,speech.wav,{folder}/b.mp4,,false,\n")
    assert errors(jobs) == [None, None]
    assert jobs[0].argv == ["synth", "--quiet", "--image", str(folder / "face.png"), "--audio",
                            str(folder / "speech.wav"), "--out", str(folder / "out" / "a.mp4"), "--seed", "7",
                            "--no-blink", "--save-landmarks", str(folder / "out" / "sub" / "a.npz")]
    assert (folder / "out" / "sub").is_dir()  # a row's own subfolder of the output folder is made
    # an absolute output stays where it is; an empty cell and a false flag leave the option out
    assert jobs[1].argv == ["synth", "--quiet", "--image", str(folder / "face.png"), "--audio",
                            str(folder / "speech.wav"), "--out", str(folder / "b.mp4")]
    assert cli.parse(jobs[0].argv[:-2]).seed == 7  # what the worker runs parses as the CLI's own


def test_each_bad_row_is_one_line_naming_its_line(folder):
    jobs = check(folder, "command,image,audio,out,seed,colour\n"
                         "synth,face.png,speech.wav,a.mp4,1,\n"              # 2: fine
                         "synth,missing.png,speech.wav,b.mp4,,\n"            # 3: missing input
                         "synth,face.png,speech.wav,c.mp4,x,\n"              # 4: bad value
                         "synth,face.png,speech.wav,d.mp4,,red\n"            # 5: unknown option
                         "synth,face.png,,e.mp4,,\n"                         # 6: required option missing
                         "synth,face.png,speech.wav,a.mp4,2,\n"              # 7: same output as line 2
                         "synth,face.png,speech.wav,f.avi,,\n"               # 8: output type
                         "train,face.png,speech.wav,g.mp4,,\n"               # 9: not a job command
                         ",face.png,speech.wav,h.mp4,,\n"                    # 10: no command
                         "synth,face.png,speech.wav,i.mp4,1,2,3,4\n")        # 11: too many cells
    problems = errors(jobs)
    assert problems[0] is None
    assert problems[1] == f"jobs.csv line 3: {folder / 'missing.png'}: file not found"
    assert problems[2] == "jobs.csv line 4: argument --seed: 'x' is not a whole number (see talkface synth --help)"
    assert problems[3] == "jobs.csv line 5: unrecognized arguments: --colour red (see talkface --help)"
    assert problems[4] == ("jobs.csv line 6: the following arguments are required: --audio "
                           "(see talkface synth --help)")
    assert problems[5] == f"jobs.csv line 7: {folder / 'out' / 'a.mp4'} is also written by line 2"
    assert problems[6].startswith("jobs.csv line 8: ") and "unsupported output type ('.avi')" in problems[6]
    assert problems[7] == "jobs.csv line 9: command 'train' is not one a batch runs (synth, animate, dub, edit)"
    assert problems[8] == "jobs.csv line 10: no command (synth, animate, dub, edit)"
    assert problems[9] == "jobs.csv line 11: 8 cells for 6 columns"
    assert all("\n" not in p for p in problems[1:])


def test_an_expression_keyframe_file_is_an_input(folder):
    (folder / "smile.json").write_text("[]")
    jobs = check(folder, "command,image,audio,out,expression\n"
                         "synth,face.png,speech.wav,a.mp4,smile.json\n"
                         "synth,face.png,speech.wav,b.mp4,happy:0.5\n"
                         "synth,face.png,speech.wav,c.mp4,frown.csv\n")
    assert jobs[0].error is None and jobs[0].argv[-2:] == ["--expression", str(folder / "smile.json")]
    assert jobs[1].error is None and jobs[1].argv[-2:] == ["--expression", "happy:0.5"]
    assert jobs[2].error == f"jobs.csv line 4: {folder / 'frown.csv'}: file not found"


def test_an_edit_row_writes_an_image(folder):
    jobs = check(folder, "command,image,expression,out\n"
                         "edit,face.png,happy:0.5,smile.png\n"
                         "edit,face.png,happy,smile.mp4\n"
                         "edit,face.png,grumpy,frown.png\n")
    assert jobs[0].error is None and jobs[0].argv[-2:] == ["--out", str(folder / "out" / "smile.png")]
    assert "smile.mp4" in jobs[1].error
    assert "unknown expression 'grumpy'" in jobs[2].error


def test_flags_take_true_or_false(folder):
    jobs = check(folder, "command,image,audio,out,still\nsynth,face.png,speech.wav,a.mp4,maybe\n")
    assert errors(jobs) == ["jobs.csv line 2: still: a flag takes true or false, got 'maybe'"]


def test_json_lines_with_their_line_numbers(folder):
    text = "\n".join([json.dumps({"command": "synth", "image": "face.png", "audio": "speech.wav", "out": "a.mp4",
                                  "seed": 3, "still": True, "no_blink": False, "size": None}),
                      "", "{not json", json.dumps(["synth"]),
                      json.dumps({"command": "dub", "video": "face.png", "audio": "speech.wav", "out": "b.mp4",
                                  "mouth": "teeth"})])
    jobs = check(folder, text, "jobs.jsonl")
    assert [job.line for job in jobs] == [1, 3, 4, 5]
    assert jobs[0].error is None and jobs[0].argv[-3:] == ["--seed", "3", "--still"]
    assert jobs[1].error.startswith("jobs.jsonl line 3: not a JSON object (")
    assert jobs[2].error == "jobs.jsonl line 4: not a JSON object (a list)"
    assert jobs[3].error.startswith("jobs.jsonl line 5: argument --mouth: invalid choice: 'teeth'")


def test_a_row_may_not_read_what_another_writes(folder):
    jobs = check(folder, "command,image,audio,out,video\n"
                         "synth,face.png,speech.wav,talk.mp4,\n"
                         f"dub,,speech.wav,dubbed.mp4,{folder / 'out' / 'talk.mp4'}\n")
    (folder / "out" / "talk.mp4").write_bytes(b"an earlier run's output")
    jobs = check(folder, (folder / "jobs.csv").read_text())
    assert jobs[0].error is None
    assert jobs[1].error == f"jobs.csv line 3: reads {folder / 'out' / 'talk.mp4'}, which line 2 writes"


def test_nothing_runs_with_a_bad_row_unless_skipped(folder):
    manifest = write_csv(folder, "command,image,audio,out\nsynth,face.png,speech.wav,a.mp4\n"
                                 "synth,nope.png,speech.wav,b.mp4\n")
    with pytest.raises(batch.JobsInvalid) as caught:
        batch.run(manifest, folder / "out", workers=1)
    assert str(caught.value) == ("jobs.csv: 1 of 2 rows invalid; nothing run (fix them, or --skip-invalid to run "
                                 "the 1 others)")
    assert caught.value.problems == [f"jobs.csv line 3: {folder / 'nope.png'}: file not found"]
    report = json.loads((folder / "out" / batch.REPORT).read_text())
    assert [job["status"] for job in report["jobs"]] == ["not run", "invalid"]
    assert not (folder / "out" / "a.mp4").exists()
    with open(folder / "out" / batch.FAILED, newline="") as file:
        failed = list(csv.DictReader(file))
    # ready to re-run from the output folder: inputs made absolute; `line` and `error` are ignored when read
    assert failed == [{"command": "synth", "image": str(folder / "nope.png"), "audio": str(folder / "speech.wav"),
                       "out": "b.mp4", "line": "3", "error": f"jobs.csv line 3: {folder / 'nope.png'}: file not found"}]
    again = read_jobs(read_rows(folder / "out" / batch.FAILED), folder / "out", folder / "out", batch.FAILED)
    assert again[0].error == f"failed.csv line 2: {folder / 'nope.png'}: file not found"


def test_the_cli_keeps_models_only_in_a_batch_worker(monkeypatch):
    class Model:
        def __init__(self, **options):
            self.options = options

    monkeypatch.setattr(cli, "MODELS", None)
    assert cli._models(Model, size=128) is not cli._models(Model, size=128)
    monkeypatch.setattr(cli, "MODELS", {})
    first = cli._models(Model, size=128, device="cpu")
    assert cli._models(Model, device="cpu", size=128) is first
    assert cli._models(Model, size=256, device="cpu") is not first
