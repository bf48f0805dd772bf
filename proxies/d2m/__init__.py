"""D2M: distil a dataset into a class-conditional generator, then generate any IPC from it."""
