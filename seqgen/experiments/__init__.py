"""The paper reproduction grid (`seqgen reproduce`): cells, runner, table and figures."""
