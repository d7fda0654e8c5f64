// Tests of the Tokenization module arrive with its issue.
