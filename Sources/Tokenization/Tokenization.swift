// The Tokenization module; its sources arrive with their issue.
