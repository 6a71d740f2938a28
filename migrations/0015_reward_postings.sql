CREATE TABLE `reward_leaves` (
	`period_id` text NOT NULL,
	`address` text NOT NULL,
	`amount` text NOT NULL,
	`proof` text NOT NULL,
	PRIMARY KEY(`period_id`, `address`),
	FOREIGN KEY (`period_id`) REFERENCES `reward_postings`(`period_id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `reward_leaves_address_idx` ON `reward_leaves` (`address`,`period_id`);--> statement-breakpoint
CREATE TABLE `reward_postings` (
	`period_id` text PRIMARY KEY NOT NULL,
	`chain_period` text NOT NULL,
	`root` text NOT NULL,
	`total` text NOT NULL,
	`tx_hash` text NOT NULL,
	`posted_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `reward_postings_chain_period_unique` ON `reward_postings` (`chain_period`);