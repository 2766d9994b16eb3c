"""Data: face-model sources, synthetic scans, preprocessing into training samples, and the dataset."""
