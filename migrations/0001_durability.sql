CREATE TABLE `blob_faults` (
	`node_id` text NOT NULL,
	`blob_id` text NOT NULL,
	`reason` text NOT NULL,
	`reported_at` integer NOT NULL,
	PRIMARY KEY(`node_id`, `blob_id`)
);
--> statement-breakpoint
ALTER TABLE `buckets` ADD `replication_factor` integer DEFAULT 3 NOT NULL;