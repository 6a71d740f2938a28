CREATE TABLE `account_wallets` (
	`account_id` text PRIMARY KEY NOT NULL,
	`wallet` text NOT NULL,
	`signature` text NOT NULL,
	`issued_at` integer NOT NULL,
	`linked_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `account_wallets_wallet_unique` ON `account_wallets` (`wallet`);