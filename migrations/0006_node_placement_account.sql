CREATE TABLE `placed_blobs` (
	`node_id` text NOT NULL,
	`blob_id` text NOT NULL,
	`bytes` integer NOT NULL,
	`placed_at` integer NOT NULL,
	PRIMARY KEY(`node_id`, `blob_id`)
);
--> statement-breakpoint
ALTER TABLE `nodes` ADD `placed_bytes` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `nodes` ADD `healthy` integer DEFAULT true NOT NULL;--> statement-breakpoint
ALTER TABLE `nodes` ADD `scrub_reports_in_window` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `nodes` ADD `scrub_window_started_at` integer DEFAULT 0 NOT NULL;