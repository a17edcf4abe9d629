"""Job lists: parse them, run their lines locally or on SLURM, resume, aggregate and plot."""
