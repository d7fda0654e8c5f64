// Tests of the Training module arrive with its issue.
