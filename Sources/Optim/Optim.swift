// The Optim module; its sources arrive with their issue.
