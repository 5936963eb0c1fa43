-- Takedown Monitor schema, version 21: on which machine each worker runs.
--
-- RECORDER = auto records in a process of its own where a worker has two CPUs or
-- more to itself. Several workers on one machine share its CPUs: each counts the live
-- workers whose machine is its own (monitor/cpus.py machine_id: the kernel's boot id,
-- the same in every container of a host) and divides. NULL for a worker of an older
-- version: it counts on no machine.

ALTER TABLE workers ADD COLUMN machine text;
