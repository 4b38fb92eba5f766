"""`capo view`: one self-contained HTML page of judged rollouts (a run directory's rollouts.jsonl,
or the output of `capo critique`): steps coloured by their votes, the raw critiques, token
advantages, filters and per-step judge telemetry. records.py reads the inputs, page.py writes the
page (assets/ holds its inline CSS and JS), command.py is the command line."""
