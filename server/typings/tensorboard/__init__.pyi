# The few parts of TensorBoard the tests use to read back the event files runs write.
