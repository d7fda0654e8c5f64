// Tests of the Optim module arrive with its issue.
