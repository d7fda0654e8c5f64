// Tests of the Corpus module arrive with its issue.
