"""Looking inside a run: figures, the diagnosis, the report, runs side by side and the ablation from the post to the fix."""
