// FineTuning: what a researcher does with a pretrained encoder — sequence classification and
// regression on labelled task files (HF run_glue.py's inputs and outputs), data-parallel under MPI
// through the same Trainer as pretraining.
