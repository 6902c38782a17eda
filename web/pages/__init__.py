"""What each page shows: the dashboard, a model, a comparison of two versions, a version with
the actions the person may take, a policy change. Reads only; the views render them. One
module per page; ``common`` holds what several show alike."""
