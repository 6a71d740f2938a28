CREATE TABLE `audit_containment` (
	`node_id` text NOT NULL,
	`piece_id` text NOT NULL,
	`timeouts` integer NOT NULL,
	`last_round_id` text NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`node_id`, `piece_id`)
);
--> statement-breakpoint
CREATE TABLE `node_audit_outcomes` (
	`node_id` text NOT NULL,
	`round_id` text NOT NULL,
	`piece_id` text NOT NULL,
	`outcome` text NOT NULL,
	`counted` text NOT NULL,
	`audit_score` real NOT NULL,
	`standing` text NOT NULL,
	`at` integer NOT NULL,
	PRIMARY KEY(`node_id`, `round_id`, `piece_id`)
);
--> statement-breakpoint
CREATE INDEX `node_audit_outcomes_node_at_idx` ON `node_audit_outcomes` (`node_id`,`at`);--> statement-breakpoint
CREATE TABLE `node_disqualification_slashes` (
	`node_id` text PRIMARY KEY NOT NULL,
	`state` text NOT NULL,
	`amount` text,
	`tx_hash` text,
	`from_block` integer,
	`detail` text,
	`disqualified_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `node_reputation` (
	`node_id` text PRIMARY KEY NOT NULL,
	`audit_alpha` real NOT NULL,
	`audit_beta` real NOT NULL,
	`online_alpha` real NOT NULL,
	`online_beta` real NOT NULL,
	`passed` integer DEFAULT 0 NOT NULL,
	`failed` integer DEFAULT 0 NOT NULL,
	`timeouts` integer DEFAULT 0 NOT NULL,
	`version` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `reputation_rounds_applied` (
	`round_id` text NOT NULL,
	`subject` text NOT NULL,
	`subject_id` text NOT NULL,
	`applied_at` integer NOT NULL,
	PRIMARY KEY(`round_id`, `subject`, `subject_id`)
);
--> statement-breakpoint
CREATE TABLE `validator_assignment_days` (
	`validator` text NOT NULL,
	`day` text NOT NULL,
	`completed` integer DEFAULT 0 NOT NULL,
	`agreed` integer DEFAULT 0 NOT NULL,
	`minority` integer DEFAULT 0 NOT NULL,
	`missed` integer DEFAULT 0 NOT NULL,
	PRIMARY KEY(`validator`, `day`)
);
--> statement-breakpoint
CREATE INDEX `validator_assignment_days_day_idx` ON `validator_assignment_days` (`day`);--> statement-breakpoint
CREATE TABLE `validator_reputation` (
	`validator` text PRIMARY KEY NOT NULL,
	`alpha` real NOT NULL,
	`beta` real NOT NULL,
	`completed` integer DEFAULT 0 NOT NULL,
	`agreed` integer DEFAULT 0 NOT NULL,
	`minority` integer DEFAULT 0 NOT NULL,
	`missed` integer DEFAULT 0 NOT NULL,
	`version` text NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `nodes` ADD `standing` text DEFAULT 'vetting' NOT NULL;