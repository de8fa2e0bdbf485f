"""`recstream evaluate`: a data set through the real stack, against baselines on the same stream."""
