"""The image download: streaming into staging, the URL guard, the image check, the finish gate."""
