"""Routing quality on labelled data: fitting thresholds, evaluation reports and plots."""
