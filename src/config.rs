//! Terminal console configuration: owned by the terminal console work (issue 3).
