"""Pure logic of the retriever stages: the working set's documents (Candidate), field paths into them, and the
algorithms the stages run (MMR, sampling, grouping, aggregation, context assembly). No I/O here; the stage objects
that validate parameters and call these live in services/stages/."""
