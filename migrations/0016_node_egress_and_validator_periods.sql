CREATE TABLE `node_egress` (
	`bucket_id` text NOT NULL,
	`batch_id` text NOT NULL,
	`node_id` text NOT NULL,
	`day` text NOT NULL,
	`period_id` text NOT NULL,
	`bytes_served` text NOT NULL,
	PRIMARY KEY(`bucket_id`, `batch_id`, `node_id`, `day`, `period_id`)
);
--> statement-breakpoint
CREATE INDEX `node_egress_period_idx` ON `node_egress` (`period_id`);--> statement-breakpoint
CREATE INDEX `node_egress_node_day_idx` ON `node_egress` (`node_id`,`day`);--> statement-breakpoint
CREATE TABLE `validator_assignment_periods` (
	`validator` text NOT NULL,
	`period_id` text NOT NULL,
	`completed` integer DEFAULT 0 NOT NULL,
	`agreed` integer DEFAULT 0 NOT NULL,
	`minority` integer DEFAULT 0 NOT NULL,
	`missed` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`validator`, `period_id`)
);
--> statement-breakpoint
CREATE INDEX `validator_assignment_periods_period_idx` ON `validator_assignment_periods` (`period_id`);