// The Training module; its sources arrive with their issue.
