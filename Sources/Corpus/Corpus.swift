// The Corpus module; its sources arrive with their issue.
