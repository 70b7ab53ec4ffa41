package batchclient

// SetAfterPlan has c call f after each attempt has asked the server what
// it holds and decided how to stream, before it opens the stream.
func SetAfterPlan(c *Client, f func()) { c.afterPlan = f }
