package queue

import _ "embed"

// JobSchema is the JSON Schema (draft 2020-12) of a job message body,
// job.schema.json; [ParseJob] accepts exactly the bodies it allows (tested).
//
//go:embed job.schema.json
var JobSchema []byte
