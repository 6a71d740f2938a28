CREATE TABLE `bucket_usage` (
	`bucket_id` text NOT NULL,
	`batch_id` text NOT NULL,
	`day` text NOT NULL,
	`period_id` text NOT NULL,
	`account_id` text NOT NULL,
	`bucket_name` text NOT NULL,
	`storage_byte_ms` text NOT NULL,
	`bytes_in` text NOT NULL,
	`bytes_out` text NOT NULL,
	`class_a` integer NOT NULL,
	`class_b` integer NOT NULL,
	`sealed_at` integer NOT NULL,
	`flushed_at` integer NOT NULL,
	PRIMARY KEY(`bucket_id`, `batch_id`, `day`, `period_id`)
);
--> statement-breakpoint
CREATE INDEX `bucket_usage_account_day_idx` ON `bucket_usage` (`account_id`,`day`);--> statement-breakpoint
CREATE INDEX `bucket_usage_period_idx` ON `bucket_usage` (`period_id`);--> statement-breakpoint
CREATE TABLE `node_usage` (
	`node_id` text NOT NULL,
	`from_ms` integer NOT NULL,
	`day` text NOT NULL,
	`period_id` text NOT NULL,
	`held_byte_ms` text NOT NULL,
	PRIMARY KEY(`node_id`, `from_ms`, `day`, `period_id`)
);
--> statement-breakpoint
CREATE INDEX `node_usage_period_idx` ON `node_usage` (`period_id`);--> statement-breakpoint
CREATE INDEX `node_usage_node_day_idx` ON `node_usage` (`node_id`,`day`);--> statement-breakpoint
CREATE TABLE `node_usage_steps` (
	`node_id` text NOT NULL,
	`from_ms` integer NOT NULL,
	`to_ms` integer NOT NULL,
	PRIMARY KEY(`node_id`, `from_ms`)
);
